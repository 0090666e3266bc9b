import { Router } from 'express';
import { z } from 'zod';
import type { Sql } from '../../db/connect';
import { SNAPSHOT_KINDS, readSnapshot } from '../../domain/snapshots';
import { adjustStock, bookSeats, cancelBooking, checkOut, returnCheckout, setBookingHalted } from '../../domain/writes';
import { AppError } from '../../errors';
import type { Auth, Claims, Role } from '../auth';
import { parseBody, parseId } from '../params';

export interface ApiRoutesDeps {
  sql: Sql;
  auth: Auth;
}

const bookingBody = z.strictObject({ seats: z.number().int().min(1).max(1000), channel: z.enum(['cashier', 'online']) });
const tripPatch = z.strictObject({ bookingHalted: z.boolean() });
const adjustBody = z.strictObject({
  delta: z
    .number()
    .int()
    .min(-1_000_000)
    .max(1_000_000)
    .refine((d) => d !== 0, 'must not be 0'),
});
const checkoutBody = z.strictObject({
  itemId: z.string().min(1).max(200),
  userId: z.string().min(1).max(200),
  dueAt: z.iso.datetime({ offset: true }).optional(),
});
const snapshotKind = z.enum(SNAPSHOT_KINDS);

function allow(claims: Claims, roles: Role[]): void {
  if (!roles.includes(claims.role)) throw new AppError('forbidden', `this needs the role ${roles.join(' or ')}`);
}

/** Snapshots and writes (section 6). Rows of another company are 404, never 403. */
export function apiRoutes(deps: ApiRoutesDeps): Router {
  const { sql, auth } = deps;
  const router = Router();

  router.get('/companies/:companyId/:kind', async (req, res) => {
    const companyId = parseId(req.params.companyId, 'companyId');
    const kind = snapshotKind.safeParse(req.params.kind);
    if (!kind.success) throw new AppError('not_found', 'snapshots are trips, bookings, stock and checkouts');
    const claims = await auth.fromRequest(req);
    if (claims.company !== companyId) throw new AppError('forbidden', 'this token is not for that company');
    allow(claims, ['admin', 'cashier']);
    res.json(await readSnapshot(sql, companyId, kind.data));
  });

  router.post('/trips/:id/bookings', async (req, res) => {
    const tripId = parseId(req.params.id);
    const claims = await auth.fromRequest(req);
    const body = parseBody(req, bookingBody);
    if (claims.role === 'customer' && body.channel !== 'online') throw new AppError('forbidden', 'customers book online');
    res.status(201).json(await bookSeats(sql, { companyId: claims.company, tripId, userId: claims.sub, ...body }));
  });

  router.post('/bookings/:id/cancel', async (req, res) => {
    const bookingId = parseId(req.params.id);
    const claims = await auth.fromRequest(req);
    const onlyUser = claims.role === 'customer' ? claims.sub : undefined;
    res.json(await cancelBooking(sql, { companyId: claims.company, bookingId, ...(onlyUser ? { onlyUser } : {}) }));
  });

  router.patch('/trips/:id', async (req, res) => {
    const tripId = parseId(req.params.id);
    const claims = await auth.fromRequest(req);
    allow(claims, ['admin']);
    const body = parseBody(req, tripPatch);
    res.json(await setBookingHalted(sql, { companyId: claims.company, tripId, halted: body.bookingHalted }));
  });

  router.post('/stock/:id/adjust', async (req, res) => {
    const itemId = parseId(req.params.id);
    const claims = await auth.fromRequest(req);
    allow(claims, ['admin', 'cashier']);
    const body = parseBody(req, adjustBody);
    res.json(await adjustStock(sql, { companyId: claims.company, itemId, delta: body.delta }));
  });

  router.post('/checkouts', async (req, res) => {
    const claims = await auth.fromRequest(req);
    allow(claims, ['admin', 'cashier']);
    const body = parseBody(req, checkoutBody);
    res.status(201).json(await checkOut(sql, { companyId: claims.company, ...body, dueAt: body.dueAt }));
  });

  router.post('/checkouts/:id/return', async (req, res) => {
    const checkoutId = parseId(req.params.id);
    const claims = await auth.fromRequest(req);
    allow(claims, ['admin', 'cashier']);
    res.json(await returnCheckout(sql, { companyId: claims.company, checkoutId }));
  });

  return router;
}
