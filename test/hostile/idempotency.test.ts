/** A retried write with the same Idempotency-Key gets the first answer and writes nothing twice. */
import type { Pgfeed } from '../../src/service';
import type { TestDatabase } from '../support/db';
import { closeService, serviceOnFreshDatabase, tokenFor } from '../support/service';

let db: TestDatabase;
let server: Pgfeed;
let carl: string;
let alice: string;
beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase({
    seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                       values ('ik-1', 'acme', 'A-B', '2026-12-24T08:00:00Z', 100, 100), ('ik-2', 'acme', 'C-D', '2026-12-24T08:00:00Z', 1, 0)`,
  }));
  carl = await tokenFor(server, 'carl', 'acme', 'cashier');
  alice = await tokenFor(server, 'alice', 'acme', 'admin');
});
afterAll(() => closeService(server, db));

async function book(trip: string, token: string, key: string | undefined, seats = 2) {
  const res = await fetch(`${server.url}/api/trips/${trip}/bookings`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(key ? { 'Idempotency-Key': key } : {}) },
    body: JSON.stringify({ seats, channel: 'cashier' }),
  });
  return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as any };
}
const bookingsOf = async (trip: string) =>
  (await db.sql<{ n: number }[]>`select count(*)::int as n from bookings where trip_id = ${trip}`)[0]!.n;
const slots = async (trip: string) =>
  (await db.sql<{ s: number }[]>`select available_slots as s from trips where id = ${trip}`)[0]!.s;

test('a retry returns the first answer, marked as replayed, and books once', async () => {
  const first = await book('ik-1', carl, 'sale-1');
  const retry = await book('ik-1', carl, 'sale-1');
  expect(first).toMatchObject({ status: 201, replayed: null });
  expect(retry).toMatchObject({ status: 201, replayed: 'true', body: first.body });
  expect(await bookingsOf('ik-1')).toBe(1);
  expect(await slots('ik-1')).toBe(98);
});

test('concurrent twins book once and all get the same booking', async () => {
  const answers = await Promise.all(Array.from({ length: 6 }, () => book('ik-1', carl, 'sale-2')));
  expect(new Set(answers.map((a) => a.status))).toEqual(new Set([201]));
  expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
  expect(answers.filter((a) => a.replayed === 'true')).toHaveLength(5);
  expect(await bookingsOf('ik-1')).toBe(2);
});

test('a key is per user, refused for a different request, and not kept by a write that failed', async () => {
  expect((await book('ik-1', alice, 'sale-1')).replayed).toBeNull(); // alice's sale-1 is her own
  expect(await book('ik-1', carl, 'sale-1', 3)).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
  expect((await book('ik-2', carl, 'sold-out')).status).toBe(409);
  await db.sql`update trips set available_slots = 1 where id = 'ik-2'`;
  expect(await book('ik-2', carl, 'sold-out', 1)).toMatchObject({ status: 201, replayed: null });
  expect((await book('ik-1', carl, 'x'.repeat(256))).status).toBe(400);
});

test('keys are scoped by company and subject apart: user "x/y" of acme and user "y" of "acme/x" never share an answer', async () => {
  const xyOfAcme = await tokenFor(server, 'x/y', 'acme', 'cashier');
  const yOfAcmeX = await tokenFor(server, 'y', 'acme/x', 'cashier');
  expect(await book('ik-1', xyOfAcme, 'shared-key', 1)).toMatchObject({ status: 201, replayed: null });
  // The same key and request from the other user: their own write (a trip of acme is not theirs: 404), never acme's answer.
  expect(await book('ik-1', yOfAcmeX, 'shared-key', 1)).toMatchObject({
    status: 404,
    replayed: null,
    body: { error: { code: 'not_found' } },
  });
});
