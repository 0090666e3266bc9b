import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies } from './support/fixtures';
import { captured, startService, tokenFor } from './support/service';
import { type OpenStream, openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;
let admin: string;
let cashier: string;
let customer: string;
let globexAdmin: string;
let stream: OpenStream;

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots) values
    ('t1', 'acme', 'A-B', '2026-12-24T08:00:00Z', 10, 10), ('few', 'acme', 'C-D', '2026-12-24T08:00:00Z', 5, 5),
    ('g1', 'globex', 'G', '2026-12-24T08:00:00Z', 10, 10)`;
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values
    ('i1', 'acme', 'HELMET', 'Helmet', 2), ('gi', 'globex', 'X', 'X', 5)`;
  server = await startService(db.url);
  admin = await tokenFor(server, 'alice', 'acme', 'admin');
  cashier = await tokenFor(server, 'carl', 'acme', 'cashier');
  customer = await tokenFor(server, 'cora', 'acme', 'customer');
  globexAdmin = await tokenFor(server, 'gina', 'globex', 'admin');
  stream = await openStream(`${server.url}/events/company/acme`, { token: admin });
  await stream.waitFor((f) => f.event === 'ready');
});
afterAll(async () => {
  stream?.close();
  await server?.close();
  await db?.drop();
});

async function call(method: string, path: string, token: string | undefined, body?: unknown, raw?: string) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}/api${path}`, {
    method,
    headers,
    ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const slots = async (id: string) => (await db.sql`select available_slots from trips where id = ${id}`)[0]?.available_slots;

test('a cashier sale books seats, returns 201 and appears on the company stream', async () => {
  const r = await call('POST', '/trips/t1/bookings', cashier, { seats: 2, channel: 'cashier' });
  expect(r.status).toBe(201);
  expect(r.body).toMatchObject({
    tripId: 't1',
    companyId: 'acme',
    userId: 'carl',
    seats: 2,
    channel: 'cashier',
    status: 'confirmed',
  });
  expect(await slots('t1')).toBe(8);
  const created = await stream.waitFor((f) => f.event === 'booking.created' && f.json.key === r.body.id);
  expect(created.json.row).toEqual(r.body); // the API answers with the same row shape events carry
  const trip = await stream.waitFor((f) => f.event === 'trip.updated' && f.json.key === 't1');
  expect(trip.json.changes).toMatchObject({ availableSlots: 8 });
});

test('cancel gives the seats back once; a second cancel is 409', async () => {
  const { body: booking } = await call('POST', '/trips/t1/bookings', customer, { seats: 3, channel: 'online' });
  expect(await slots('t1')).toBe(5);
  expect((await call('POST', `/bookings/${booking.id}/cancel`, customer)).body).toMatchObject({ status: 'cancelled' });
  expect(await slots('t1')).toBe(8);
  const cancelled = await stream.waitFor((f) => f.event === 'booking.updated' && f.json.key === booking.id);
  expect(cancelled.json.changes).toEqual({ status: 'cancelled' });
  expect(cancelled.json.userId).toBe('cora');
  await stream.waitFor((f) => f.json?.key === 't1' && f.json.changes?.availableSlots === 8, {
    from: stream.frames.indexOf(cancelled),
  });
  expect(await call('POST', `/bookings/${booking.id}/cancel`, customer)).toMatchObject({
    status: 409,
    body: { error: { code: 'conflict' } },
  });
  expect(await slots('t1')).toBe(8);
});

test('409 when seats are not available or booking is halted, and nothing changes', async () => {
  expect(await call('POST', '/trips/t1/bookings', cashier, { seats: 11, channel: 'cashier' })).toMatchObject({
    status: 409,
    body: { error: { code: 'conflict', message: 'only 8 seats are available' } },
  });
  expect(await call('PATCH', '/trips/t1', cashier, { bookingHalted: true })).toMatchObject({ status: 403 });
  expect(await call('PATCH', '/trips/t1', admin, { bookingHalted: true })).toMatchObject({
    status: 200,
    body: { bookingHalted: true },
  });
  await stream.waitFor((f) => f.event === 'trip.updated' && f.json.key === 't1' && f.json.changes?.bookingHalted === true);
  expect(await call('POST', '/trips/t1/bookings', cashier, { seats: 1, channel: 'cashier' })).toMatchObject({
    status: 409,
    body: { error: { message: 'booking is halted on this trip' } },
  });
  expect(await slots('t1')).toBe(8);
  const [n] = await db.sql`select count(*)::int as n from bookings where trip_id = 't1' and status = 'confirmed'`;
  expect(n?.n).toBe(1);
  await call('PATCH', '/trips/t1', admin, { bookingHalted: false });
});

test('concurrent sales never oversell: 20 buyers, 5 seats', async () => {
  const results = await Promise.all(
    Array.from({ length: 20 }, () => call('POST', '/trips/few/bookings', cashier, { seats: 1, channel: 'cashier' })),
  );
  expect(results.filter((r) => r.status === 201)).toHaveLength(5);
  expect(results.filter((r) => r.status === 409)).toHaveLength(15);
  expect(await slots('few')).toBe(0);
  await stream.waitFor((f) => f.json?.key === 'few' && f.json.row.availableSlots === 0);
  const sold = stream.events().filter((f) => f.event === 'booking.created' && f.json.row.tripId === 'few');
  expect(sold).toHaveLength(5);
});

test('stock adjust and checkouts: reserve, return, and 409 at the limits', async () => {
  expect((await call('POST', '/stock/i1/adjust', cashier, { delta: 1 })).body).toMatchObject({ quantity: 3 });
  await stream.waitFor((f) => f.event === 'stock.updated' && f.json.key === 'i1' && f.json.changes?.quantity === 3);
  const c1 = await call('POST', '/checkouts', cashier, { itemId: 'i1', userId: 'cora', dueAt: '2026-12-31T00:00:00Z' });
  expect(c1).toMatchObject({ status: 201, body: { status: 'checked_out', userId: 'cora', itemId: 'i1' } });
  const created = await stream.waitFor((f) => f.event === 'checkout.created' && f.json.key === c1.body.id);
  expect(created.json.row).toEqual(c1.body);
  await stream.waitFor((f) => f.event === 'stock.updated' && f.json.key === 'i1' && f.json.changes?.reserved === 1);
  await call('POST', '/checkouts', cashier, { itemId: 'i1', userId: 'cody' });
  await call('POST', '/checkouts', cashier, { itemId: 'i1', userId: 'cora' });
  expect(await call('POST', '/checkouts', cashier, { itemId: 'i1', userId: 'cora' })).toMatchObject({ status: 409 });
  expect(await call('POST', '/stock/i1/adjust', admin, { delta: -1 })).toMatchObject({ status: 409 });
  expect((await db.sql`select quantity, reserved from stock_items where id = 'i1'`)[0]).toEqual({ quantity: 3, reserved: 3 });
  expect((await call('POST', `/checkouts/${c1.body.id}/return`, cashier)).body).toMatchObject({ status: 'returned' });
  expect(await call('POST', `/checkouts/${c1.body.id}/return`, cashier)).toMatchObject({ status: 409 });
  expect((await db.sql`select reserved from stock_items where id = 'i1'`)[0]?.reserved).toBe(2);
  const returned = await stream.waitFor((f) => f.event === 'checkout.updated' && f.json.key === c1.body.id);
  expect(returned.json.row).toMatchObject({ status: 'returned', returnedAt: expect.any(String) });
});

describe('bad input is a clear error and changes nothing', () => {
  test.each([
    ['seats missing', '/trips/t1/bookings', { channel: 'cashier' }],
    ['seats zero', '/trips/t1/bookings', { seats: 0, channel: 'cashier' }],
    ['seats not a number', '/trips/t1/bookings', { seats: '2', channel: 'cashier' }],
    ['unknown channel', '/trips/t1/bookings', { seats: 1, channel: 'phone' }],
    ['unknown field', '/trips/t1/bookings', { seats: 1, channel: 'cashier', price: 3 }],
    ['delta zero', '/stock/i1/adjust', { delta: 0 }],
    ['delta fractional', '/stock/i1/adjust', { delta: 1.5 }],
    ['dueAt not a date', '/checkouts', { itemId: 'i1', userId: 'cora', dueAt: 'tomorrow' }],
  ])('%s → 400 invalid_body', async (_name, path, body) => {
    await captured(db.sql);
    const before = await db.sql`select count(*)::int as n from pgfeed.events`;
    const r = await call('POST', path, cashier, body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_body');
    expect(Array.isArray(r.body.error.issues)).toBe(true);
    await captured(db.sql);
    expect(await db.sql`select count(*)::int as n from pgfeed.events`).toEqual(before);
  });

  test('malformed JSON → 400 invalid_body', async () => {
    const r = await call('POST', '/trips/t1/bookings', cashier, undefined, '{"seats": 1,');
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'invalid_body' } } });
  });

  test('no token → 401; wrong role → 403', async () => {
    expect((await call('POST', '/trips/t1/bookings', undefined, { seats: 1, channel: 'cashier' })).status).toBe(401);
    expect((await call('POST', '/trips/t1/bookings', customer, { seats: 1, channel: 'cashier' })).status).toBe(403);
    expect((await call('POST', '/stock/i1/adjust', customer, { delta: 1 })).status).toBe(403);
    expect((await call('GET', '/companies/acme/trips', customer)).status).toBe(403);
  });

  test("another company's rows are 404, never 403", async () => {
    expect(await call('POST', '/trips/g1/bookings', admin, { seats: 1, channel: 'cashier' })).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found' } },
    });
    expect((await call('PATCH', '/trips/g1', admin, { bookingHalted: true })).status).toBe(404);
    expect((await call('POST', '/stock/gi/adjust', admin, { delta: 1 })).status).toBe(404);
    expect((await call('POST', '/checkouts', admin, { itemId: 'gi', userId: 'cora' })).status).toBe(404);
    expect((await call('POST', '/checkouts', admin, { itemId: 'i1', userId: 'gus' })).status).toBe(404);
    expect((await call('GET', '/companies/acme/trips', globexAdmin)).status).toBe(403);
    expect((await db.sql`select available_slots, booking_halted from trips where id = 'g1'`)[0]).toEqual({
      available_slots: 10,
      booking_halted: false,
    });
  });

  test('an unknown snapshot kind is 404', async () => {
    expect((await call('GET', '/companies/acme/people', admin)).status).toBe(404);
  });
});

describe('ids, ownership and constraints', () => {
  test('an id longer than 200 characters → 400 invalid_params, nothing written', async () => {
    await captured(db.sql);
    const before = await db.sql`select count(*)::int as n from pgfeed.events`;
    const long = 'x'.repeat(201);
    expect(await call('POST', `/trips/${long}/bookings`, cashier, { seats: 1, channel: 'cashier' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_params' } },
    });
    expect((await call('POST', `/bookings/${long}/cancel`, cashier)).status).toBe(400);
    await captured(db.sql);
    expect(await db.sql`select count(*)::int as n from pgfeed.events`).toEqual(before);
  });

  test("a customer cannot cancel another customer's booking (404), and it stays confirmed", async () => {
    const { body: booking } = await call('POST', '/trips/t1/bookings', cashier, { seats: 1, channel: 'cashier' });
    const cody = await tokenFor(server, 'cody', 'acme', 'customer');
    expect((await call('POST', `/bookings/${booking.id}/cancel`, cody)).status).toBe(404);
    expect((await db.sql`select status from bookings where id = ${booking.id}`)[0]?.status).toBe('confirmed');
    expect((await call('POST', `/bookings/${booking.id}/cancel`, globexAdmin)).status).toBe(404);
  });

  test('a CHECK violation from a write racing another application is a 409, not a 500', async () => {
    // Another application left a trip whose available_slots already equals capacity; a cancel giving seats back would exceed it.
    const { body: booking } = await call('POST', '/trips/t1/bookings', cashier, { seats: 2, channel: 'cashier' });
    await db.sql`update trips set available_slots = capacity where id = 't1'`;
    expect(await call('POST', `/bookings/${booking.id}/cancel`, cashier)).toMatchObject({
      status: 409,
      body: { error: { code: 'conflict' } },
    });
    expect((await db.sql`select status from bookings where id = ${booking.id}`)[0]?.status).toBe('confirmed');
  });
});
