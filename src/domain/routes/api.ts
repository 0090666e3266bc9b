import { Router } from 'express';
import { z } from 'zod';
import { AppError, type Claims, type Role, type RouteContext, parseBody, parseId } from '../../index';
import { entityOfPath, readSnapshots } from '../snapshots';
import { adjustStock, bookSeats, cancelBooking, checkOut, returnCheckout, setBookingHalted } from '../writes';

export const bookingBody = z.strictObject({ seats: z.number().int().min(1).max(1000), channel: z.enum(['cashier', 'online']) });
export const tripPatch = z.strictObject({ bookingHalted: z.boolean() });
export const adjustBody = z.strictObject({
  delta: z
    .number()
    .int()
    .min(-1_000_000)
    .max(1_000_000)
    .refine((d) => d !== 0, 'must not be 0'),
});
export const checkoutBody = z.strictObject({
  itemId: z.string().min(1).max(200),
  userId: z.string().min(1).max(200),
  dueAt: z.iso.datetime({ offset: true }).optional(),
});

function allow(claims: Claims, roles: Role[]): void {
  if (!roles.includes(claims.role)) throw new AppError('forbidden', `this needs the role ${roles.join(' or ')}`);
}

/** Snapshots and writes under /api. Rows of another company are 404, never 403. */
export function apiRoutes(ctx: RouteContext): Router {
  const { sql } = ctx;
  const router = Router();

  router.get('/companies/:companyId/:path', async (req, res) => {
    const companyId = parseId(req.params.companyId, 'companyId');
    const entity = entityOfPath(req.params.path);
    if (!entity) throw new AppError('not_found', 'snapshots are trips, bookings, stock and checkouts');
    const claims = await ctx.authenticate(req);
    if (claims.company !== companyId) throw new AppError('forbidden', 'this token is not for that company');
    allow(claims, ['admin', 'cashier']);
    const { items, lastEventId } = await readSnapshots(ctx, companyId, [entity]);
    res.json({ items: items[entity], lastEventId });
  });

  router.post('/trips/:id/bookings', async (req, res) => {
    const tripId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    const body = parseBody(req, bookingBody);
    if (claims.role === 'customer' && body.channel !== 'online') throw new AppError('forbidden', 'customers book online');
    res.status(201).json(await bookSeats(sql, { companyId: claims.company, tripId, userId: claims.sub, ...body }));
  });

  router.post('/bookings/:id/cancel', async (req, res) => {
    const bookingId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    const onlyUser = claims.role === 'customer' ? claims.sub : undefined;
    res.json(await cancelBooking(sql, { companyId: claims.company, bookingId, ...(onlyUser ? { onlyUser } : {}) }));
  });

  router.patch('/trips/:id', async (req, res) => {
    const tripId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    allow(claims, ['admin']);
    const body = parseBody(req, tripPatch);
    res.json(await setBookingHalted(sql, { companyId: claims.company, tripId, halted: body.bookingHalted }));
  });

  router.post('/stock/:id/adjust', async (req, res) => {
    const itemId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    allow(claims, ['admin', 'cashier']);
    const body = parseBody(req, adjustBody);
    res.json(await adjustStock(sql, { companyId: claims.company, itemId, delta: body.delta }));
  });

  router.post('/checkouts', async (req, res) => {
    const claims = await ctx.authenticate(req);
    allow(claims, ['admin', 'cashier']);
    const body = parseBody(req, checkoutBody);
    res.status(201).json(await checkOut(sql, { companyId: claims.company, ...body, dueAt: body.dueAt }));
  });

  router.post('/checkouts/:id/return', async (req, res) => {
    const checkoutId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    allow(claims, ['admin', 'cashier']);
    res.json(await returnCheckout(sql, { companyId: claims.company, checkoutId }));
  });

  return Router().use('/api', router);
}
