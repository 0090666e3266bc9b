import type { Sql } from '../../src/db/connect';

/** Two companies with an admin, a cashier and two customers each, written with plain SQL. */
export async function seedTwoCompanies(sql: Sql): Promise<void> {
  await sql`insert into companies (id, name) values ('acme', 'Acme'), ('globex', 'Globex')`;
  await sql`
    insert into users (id, company_id, role, name) values
      ('alice', 'acme', 'admin', 'Alice'), ('carl', 'acme', 'cashier', 'Carl'),
      ('cora', 'acme', 'customer', 'Cora'), ('cody', 'acme', 'customer', 'Cody'),
      ('gina', 'globex', 'admin', 'Gina'), ('gus', 'globex', 'customer', 'Gus')`;
}

/** One insert, update and delete of each built-in entity for `company` (customer `user`), as another application would. */
export async function writeEveryEntity(sql: Sql, company: string, user: string, tag: string): Promise<void> {
  const trip = `${tag}-trip`;
  const item = `${tag}-item`;
  await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
            values (${trip}, ${company}, 'X-Y', '2026-12-24T08:00:00Z', 40, 40)`;
  await sql`update trips set available_slots = 38 where id = ${trip}`;
  await sql`insert into bookings (id, trip_id, company_id, user_id, seats, channel)
            values (${tag + '-booking'}, ${trip}, ${company}, ${user}, 2, 'online')`;
  await sql`update bookings set status = 'cancelled' where id = ${tag + '-booking'}`;
  await sql`insert into stock_items (id, company_id, sku, name, quantity) values (${item}, ${company}, ${tag}, 'Helmet', 5)`;
  await sql`update stock_items set reserved = 1 where id = ${item}`;
  await sql`insert into checkouts (id, company_id, user_id, item_id) values (${tag + '-checkout'}, ${company}, ${user}, ${item})`;
  await sql`update checkouts set status = 'returned', returned_at = now() where id = ${tag + '-checkout'}`;
  await sql`delete from checkouts where id = ${tag + '-checkout'}`;
  await sql`delete from bookings where id = ${tag + '-booking'}`;
  await sql`delete from stock_items where id = ${item}`;
  await sql`delete from trips where id = ${trip}`;
}

/** The event types writeEveryEntity produces, in order. */
export const EVERY_ENTITY_TYPES = [
  'trip.created',
  'trip.updated',
  'booking.created',
  'booking.updated',
  'stock.created',
  'stock.updated',
  'checkout.created',
  'checkout.updated',
  'checkout.deleted',
  'booking.deleted',
  'stock.deleted',
  'trip.deleted',
] as const;

/**
 * `write(count)` inserts `count` acme trips with fresh keys (`<prefix>1`, `<prefix>2`, …) one
 * transaction each, as another application would, and returns the keys. With `interleave`, a
 * trip of that company is written after each one, so filters have something to leave out.
 */
export function tripWriter(sql: Sql, prefix: string, interleave?: string): (count: number) => Promise<string[]> {
  let n = 0;
  const insert = (key: string, company: string) =>
    sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
        values (${key}, ${company}, 'R', '2026-12-24T08:00:00Z', 10, 10)`;
  return async (count) => {
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
      const key = `${prefix}${++n}`;
      keys.push(key);
      await insert(key, 'acme');
      if (interleave) await insert(`${interleave}-${key}`, interleave);
    }
    return keys;
  };
}

/** Every relation and function outside schema pgfeed (and the system's), sorted: what pgfeed must not have created. */
export async function outsideSchemaPgfeed(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select n.nspname || '.' || c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname not in ('pgfeed', 'pg_catalog', 'information_schema', 'pg_toast')
    union all
    select n.nspname || '.' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname not in ('pgfeed', 'pg_catalog', 'information_schema')`;
  return rows.map((r) => r.name).sort();
}

/** Writes a reset record to the log, what capture writes when it lost changes (a dropped slot): every stream says reset. */
export async function writeReset(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(pgfeed.commit_lock_key())`;
    await tx`
      with e as (
        insert into pgfeed.events (id, entity, op, company_id, user_id, key, row, changes)
        values (nextval('pgfeed.event_id_seq'), 'trip', 'reset', null, null, '', '{}', null) returning *
      )
      select pg_notify(pgfeed.channel(), pgfeed.event_json(e)::text) from e`;
  });
}
