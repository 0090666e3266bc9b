import type { Sql, TransactionSql } from 'postgres';
import { PG } from '../express';
import { AppError } from '../index';
import { rowsOf, utc } from './rows';

type Row = Record<string, unknown>;

/** The largest value of PostgreSQL's int. */
const INT_MAX = 2_147_483_647;

/** A write's result; `replayed` when it is the stored answer to an earlier request with the same Idempotency-Key. */
export interface Written {
  row: Row;
  replayed: boolean;
}

/** An Idempotency-Key, whose it is, and what the request asked (so a key reused for another request is refused). */
export interface Idempotency {
  subject: string;
  key: string;
  fingerprint: string;
}

/** How long a key's answer is kept. */
const IDEMPOTENCY_WINDOW = '24 hours';

/**
 * One write transaction under TimeZone UTC. The guarded UPDATEs below keep
 * CHECK constraints from firing; if another application's write still trips
 * one (a race the guards cannot see), the answer is a 409, not a 500.
 *
 * With an Idempotency-Key the key is claimed in the same transaction as the
 * write and the answer stored with it: a retry (or a concurrent twin, which
 * waits on the key's row) gets that answer instead of writing again, and a
 * write that fails leaves no claim behind.
 */
async function write(sql: Sql, once: Idempotency | undefined, fn: (tx: TransactionSql) => Promise<Row>): Promise<Written> {
  try {
    return (await sql.begin(async (tx) => {
      await utc(tx);
      if (!once) return { row: await fn(tx), replayed: false };
      await tx`delete from idempotency_keys where created_at < now() - ${IDEMPOTENCY_WINDOW}::interval`;
      const [claimed] = await tx`
        insert into idempotency_keys (subject, key, fingerprint) values (${once.subject}, ${once.key}, ${once.fingerprint})
        on conflict do nothing returning 1`;
      if (!claimed) {
        const [earlier] = await tx<{ fingerprint: string; response: Row }[]>`
          select fingerprint, response from idempotency_keys where subject = ${once.subject} and key = ${once.key}`;
        if (earlier?.fingerprint !== once.fingerprint) {
          throw new AppError('conflict', 'this Idempotency-Key was used for a different request');
        }
        return { row: earlier.response, replayed: true };
      }
      const row = await fn(tx);
      await tx`update idempotency_keys set response = ${tx.json(row as never)} where subject = ${once.subject} and key = ${once.key}`;
      return { row, replayed: false };
    })) as Written;
  } catch (err) {
    if ((err as { code?: unknown }).code === PG.checkViolation) {
      throw new AppError('conflict', 'the change would break a constraint of the row', { cause: err });
    }
    throw err;
  }
}

const one = (rows: readonly { row: Row }[]): Row | undefined => rowsOf(rows)[0];

/**
 * Books seats on a trip of `companyId`. The seat check and the decrement are
 * one UPDATE, so concurrent bookings can never oversell.
 */
export async function bookSeats(
  sql: Sql,
  input: { companyId: string; tripId: string; userId: string; seats: number; channel: 'cashier' | 'online' },
  once?: Idempotency,
): Promise<Written> {
  return write(sql, once, async (tx) => {
    const [trip] = await tx<{ available_slots: number; booking_halted: boolean }[]>`
      select available_slots, booking_halted from trips where id = ${input.tripId} and company_id = ${input.companyId}`;
    if (!trip) throw new AppError('not_found', 'no such trip');
    const [updated] = await tx`
      update trips set available_slots = available_slots - ${input.seats}
       where id = ${input.tripId} and company_id = ${input.companyId}
         and not booking_halted and available_slots >= ${input.seats}
      returning id`;
    if (!updated) {
      const [now] = await tx<{ available_slots: number; booking_halted: boolean }[]>`
        select available_slots, booking_halted from trips where id = ${input.tripId}`;
      throw new AppError(
        'conflict',
        now?.booking_halted ? 'booking is halted on this trip' : `only ${now?.available_slots ?? 0} seats are available`,
      );
    }
    const booking = await tx<{ row: Row }[]>`
      insert into bookings (trip_id, company_id, user_id, seats, channel)
      values (${input.tripId}, ${input.companyId},
              (select id from users where id = ${input.userId} and company_id = ${input.companyId}),
              ${input.seats}, ${input.channel})
      returning to_jsonb(bookings.*) as row`;
    return one(booking)!;
  });
}

/** Cancels a booking and gives its seats back; `onlyUser` restricts it to that user's own bookings. */
export async function cancelBooking(
  sql: Sql,
  input: { companyId: string; bookingId: string; onlyUser?: string },
  once?: Idempotency,
): Promise<Written> {
  return write(sql, once, async (tx) => {
    const [b] = await tx<{ status: string; user_id: string | null }[]>`
      select status, user_id from bookings where id = ${input.bookingId} and company_id = ${input.companyId} for update`;
    if (!b || (input.onlyUser !== undefined && b.user_id !== input.onlyUser)) throw new AppError('not_found', 'no such booking');
    if (b.status === 'cancelled') throw new AppError('conflict', 'the booking is already cancelled');
    const booking = await tx<{ row: Row }[]>`
      update bookings set status = 'cancelled' where id = ${input.bookingId} returning to_jsonb(bookings.*) as row`;
    await tx`update trips set available_slots = available_slots + ${(one(booking)?.seats as number) ?? 0}
              where id = ${one(booking)?.tripId as string}`;
    return one(booking)!;
  });
}

export async function setBookingHalted(
  sql: Sql,
  input: { companyId: string; tripId: string; halted: boolean },
  once?: Idempotency,
): Promise<Written> {
  return write(sql, once, async (tx) => {
    const trip = await tx<{ row: Row }[]>`
      update trips set booking_halted = ${input.halted} where id = ${input.tripId} and company_id = ${input.companyId}
      returning to_jsonb(trips.*) as row`;
    if (trip.length === 0) throw new AppError('not_found', 'no such trip');
    return one(trip)!;
  });
}

/** Adds `delta` to a stock item's quantity; never below what is reserved. */
export async function adjustStock(
  sql: Sql,
  input: { companyId: string; itemId: string; delta: number },
  once?: Idempotency,
): Promise<Written> {
  return write(sql, once, async (tx) => {
    const [exists] = await tx`select 1 from stock_items where id = ${input.itemId} and company_id = ${input.companyId}`;
    if (!exists) throw new AppError('not_found', 'no such stock item');
    // Checked in bigint, so a sum past the int column's range is a 409, not an overflow.
    const item = await tx<{ row: Row }[]>`
      update stock_items set quantity = quantity + ${input.delta}
       where id = ${input.itemId} and quantity::bigint + ${input.delta} between reserved and ${INT_MAX}
      returning to_jsonb(stock_items.*) as row`;
    if (item.length === 0) {
      const [now] = await tx<{ quantity: number }[]>`select quantity from stock_items where id = ${input.itemId}`;
      throw new AppError(
        'conflict',
        (now?.quantity ?? 0) + input.delta > INT_MAX
          ? `quantity would go above ${INT_MAX}`
          : 'quantity would go below the reserved units',
      );
    }
    return one(item)!;
  });
}

/** Reserves one unit of an item for a user of the same company. */
export async function checkOut(
  sql: Sql,
  input: { companyId: string; itemId: string; userId: string; dueAt: string | undefined },
  once?: Idempotency,
): Promise<Written> {
  return write(sql, once, async (tx) => {
    const [user] = await tx`select 1 from users where id = ${input.userId} and company_id = ${input.companyId}`;
    if (!user) throw new AppError('not_found', 'no such user');
    const [exists] = await tx`select 1 from stock_items where id = ${input.itemId} and company_id = ${input.companyId}`;
    if (!exists) throw new AppError('not_found', 'no such stock item');
    const [reserved] = await tx`
      update stock_items set reserved = reserved + 1 where id = ${input.itemId} and reserved < quantity returning id`;
    if (!reserved) throw new AppError('conflict', 'no unit of this item is available');
    const checkout = await tx<{ row: Row }[]>`
      insert into checkouts (company_id, user_id, item_id, due_at)
      values (${input.companyId}, ${input.userId}, ${input.itemId}, ${input.dueAt ?? null})
      returning to_jsonb(checkouts.*) as row`;
    return one(checkout)!;
  });
}

/** Returns a checked-out unit. */
export async function returnCheckout(
  sql: Sql,
  input: { companyId: string; checkoutId: string },
  once?: Idempotency,
): Promise<Written> {
  return write(sql, once, async (tx) => {
    const [c] = await tx<{ status: string; item_id: string }[]>`
      select status, item_id from checkouts where id = ${input.checkoutId} and company_id = ${input.companyId} for update`;
    if (!c) throw new AppError('not_found', 'no such checkout');
    if (c.status === 'returned') throw new AppError('conflict', 'the checkout is already returned');
    const checkout = await tx<{ row: Row }[]>`
      update checkouts set status = 'returned', returned_at = now() where id = ${input.checkoutId}
      returning to_jsonb(checkouts.*) as row`;
    await tx`update stock_items set reserved = reserved - 1 where id = ${c.item_id}`;
    return one(checkout)!;
  });
}
