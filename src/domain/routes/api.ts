import { createHash } from 'node:crypto';
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { parseBody, parseId, parseQuery, rowId } from '../../express';
import { AppError, type Claims, type RouteContext } from '../../index';
import { type DemoRole, roleOf } from '../roles';
import { entityOfPath, readPage } from '../snapshots';
import {
  type Idempotency,
  type Written,
  adjustStock,
  bookSeats,
  cancelBooking,
  checkOut,
  returnCheckout,
  setBookingHalted,
} from '../writes';

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
  itemId: rowId,
  userId: rowId,
  // PostgreSQL has no year 0 and the pages show four-digit years.
  dueAt: z.iso
    .datetime({ offset: true })
    .refine((v) => new Date(v).getUTCFullYear() >= 1, 'must be a date from year 1 on')
    .optional(),
});

/** Snapshot pages: at most 1000 rows each. */
export const pageQuery = z.object({
  limit: z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .default(1000),
  after: z.string().max(2000).optional(),
  access_token: z.string().optional(),
});

const idempotencyKey = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters');

/**
 * The request's Idempotency-Key, if any, bound to the token's subject and to
 * what the request asks: the same key with another request is refused.
 */
function idempotency(req: Request, claims: Claims): Idempotency | undefined {
  const header = req.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const key = idempotencyKey.safeParse(header);
  if (!key.success) throw new AppError('invalid_params', `Idempotency-Key ${key.error.issues[0]?.message ?? 'is invalid'}`);
  const fingerprint = createHash('sha256')
    .update(`${req.method} ${req.originalUrl.split('?')[0]} ${JSON.stringify(req.body ?? null)}`)
    .digest('hex');
  // JSON keeps company and subject apart: "acme" + "x/y" and "acme/x" + "y" are two users.
  return { subject: JSON.stringify([claims.company, claims.sub]), key: key.data, fingerprint };
}

/** Sends a write's row; a replayed answer says so in `Idempotent-Replayed`. */
function send(res: Response, status: number, written: Written): void {
  if (written.replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(status).json(written.row);
}

function allow(claims: Claims, roles: DemoRole[]): void {
  if (!roles.includes(roleOf(claims))) throw new AppError('forbidden', `this needs the role ${roles.join(' or ')}`);
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
    const { limit, after } = parseQuery(req, pageQuery);
    res.json(await readPage(ctx, companyId, entity, { limit, ...(after === undefined ? {} : { after }) }));
  });

  router.post('/trips/:id/bookings', async (req, res) => {
    const tripId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    const body = parseBody(req, bookingBody);
    if (roleOf(claims) === 'customer' && body.channel !== 'online') throw new AppError('forbidden', 'customers book online');
    send(
      res,
      201,
      await bookSeats(sql, { companyId: claims.company, tripId, userId: claims.sub, ...body }, idempotency(req, claims)),
    );
  });

  router.post('/bookings/:id/cancel', async (req, res) => {
    const bookingId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    const onlyUser = roleOf(claims) === 'customer' ? claims.sub : undefined;
    send(
      res,
      200,
      await cancelBooking(
        sql,
        { companyId: claims.company, bookingId, ...(onlyUser ? { onlyUser } : {}) },
        idempotency(req, claims),
      ),
    );
  });

  router.patch('/trips/:id', async (req, res) => {
    const tripId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    allow(claims, ['admin']);
    const body = parseBody(req, tripPatch);
    send(
      res,
      200,
      await setBookingHalted(sql, { companyId: claims.company, tripId, halted: body.bookingHalted }, idempotency(req, claims)),
    );
  });

  router.post('/stock/:id/adjust', async (req, res) => {
    const itemId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    allow(claims, ['admin', 'cashier']);
    const body = parseBody(req, adjustBody);
    send(res, 200, await adjustStock(sql, { companyId: claims.company, itemId, delta: body.delta }, idempotency(req, claims)));
  });

  router.post('/checkouts', async (req, res) => {
    const claims = await ctx.authenticate(req);
    allow(claims, ['admin', 'cashier']);
    const body = parseBody(req, checkoutBody);
    send(res, 201, await checkOut(sql, { companyId: claims.company, ...body, dueAt: body.dueAt }, idempotency(req, claims)));
  });

  router.post('/checkouts/:id/return', async (req, res) => {
    const checkoutId = parseId(req.params.id);
    const claims = await ctx.authenticate(req);
    allow(claims, ['admin', 'cashier']);
    send(res, 200, await returnCheckout(sql, { companyId: claims.company, checkoutId }, idempotency(req, claims)));
  });

  return Router().use('/api', router);
}
