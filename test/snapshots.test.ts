/**
 * Generic snapshots (GET /snapshots/company/:id, /snapshots/user,
 * /snapshots/public/:id) and column filters (`where.<column>=<op>.<value>`),
 * identical on snapshots and streams, for the demo's entities.
 */
import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { caughtUp, closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { openLiveStream, openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;
let admin: string;

interface Item {
  entity: string;
  key: string;
  companyId: string;
  userId: string | null;
  row: Record<string, unknown>;
}
interface Page {
  items: Item[];
  lastEventId: string;
  next: string | null;
}

beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase({
    seed: async (sql) => {
      await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                select 'tr' || lpad(g::text, 2, '0'), 'acme', 'R' || g, '2026-12-24T08:00:00Z', 20, g from generate_series(1, 12) g`;
      await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                values ('g1', 'globex', 'G', '2026-12-24T08:00:00Z', 5, 5)`;
      await sql`insert into bookings (id, trip_id, company_id, user_id, seats, channel) values
                  ('b1', 'tr01', 'acme', 'cora', 1, 'online'), ('b2', 'tr02', 'acme', 'cora', 3, 'cashier'),
                  ('b3', 'tr03', 'acme', 'cody', 2, 'online'), ('b4', 'g1', 'globex', 'gus', 1, 'online')`;
      await sql`insert into stock_items (id, company_id, sku, name, quantity, reserved) values
                  ('s1', 'acme', 'HEL', 'Helmet', 5, 2), ('s2', 'acme', 'ROP', 'Rope', 1, 1)`;
    },
  }));
  admin = await tokenFor(server, 'alice', 'acme', 'admin');
}, 60_000);
afterAll(() => closeService(server, db));

async function get(path: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: await res.json() };
}

async function page(path: string, token?: string): Promise<Page> {
  const { status, body } = await get(path, token);
  if (status !== 200) throw new Error(`${path} answered ${status}: ${JSON.stringify(body)}`);
  return body as Page;
}

/** Every page of a snapshot, following `next`. */
async function allPages(path: string, token?: string): Promise<Page[]> {
  const pages: Page[] = [];
  let next: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const p = await page(next === null ? path : `${path}${sep}after=${encodeURIComponent(next)}`, token);
    pages.push(p);
    next = p.next;
  } while (next !== null);
  return pages;
}

test('a company snapshot pages through every entity of the company in (entity, key) order, rows as stream rows', async () => {
  const pages = await allPages('/snapshots/company/acme?limit=5', admin);
  const items = pages.flatMap((p) => p.items);
  expect(items.map((i) => `${i.entity}:${i.key}`)).toEqual([
    'booking:b1',
    'booking:b2',
    'booking:b3',
    'stock:s1',
    'stock:s2',
    ...Array.from({ length: 12 }, (_, i) => `trip:tr${String(i + 1).padStart(2, '0')}`),
  ]);
  expect(pages.map((p) => p.items.length)).toEqual([5, 5, 5, 2]);
  expect(items.find((i) => i.key === 'b2')).toEqual({
    entity: 'booking',
    key: 'b2',
    companyId: 'acme',
    userId: 'cora',
    row: expect.objectContaining({ id: 'b2', tripId: 'tr02', companyId: 'acme', userId: 'cora', seats: 3, channel: 'cashier' }),
  });

  // The row is exactly what a stream event of the same record carries.
  const stream = await openLiveStream(`${server.url}/events/company/acme?entities=trip&keys=tr05`, { token: admin });
  await db.sql`update trips set route = 'R5' || '' where id = 'tr05'`; // a no-op update: no event
  await db.sql`update trips set available_slots = 4 where id = 'tr05'`;
  const event = await stream.waitFor((f) => f.event === 'trip.updated');
  stream.close();
  const after = await page('/snapshots/company/acme?entities=trip&keys=tr05', admin);
  expect(after.items[0]?.row).toEqual(event.json.row);
  expect(BigInt(after.lastEventId)).toBeGreaterThanOrEqual(BigInt(event.id!));
});

test('a change committed between two pages is delivered once, by the stream from the smallest lastEventId', async () => {
  const first = await page('/snapshots/company/acme?entities=trip&limit=6', admin);
  expect(first.items.map((i) => i.key)).toEqual(['tr01', 'tr02', 'tr03', 'tr04', 'tr05', 'tr06']);
  // Between the pages: one change in the range of page 1 (already read), one in the range of page 2 (not yet).
  await db.sql`update trips set available_slots = 0 where id = 'tr02'`;
  await db.sql`update trips set available_slots = 1 where id = 'tr09'`;
  await caughtUp(server, db.sql);
  const second = await page(`/snapshots/company/acme?entities=trip&limit=6&after=${first.next!}`, admin);
  expect(second.next).toBeNull();
  expect(BigInt(second.lastEventId)).toBeGreaterThan(BigInt(first.lastEventId));
  // Page 2 already reflects the tr09 change; page 1 does not reflect the tr02 one.
  expect(second.items.find((i) => i.key === 'tr09')?.row.availableSlots).toBe(1);
  expect(first.items.find((i) => i.key === 'tr02')?.row.availableSlots).toBe(2);

  const stream = await openLiveStream(`${server.url}/events/company/acme?entities=trip`, {
    token: admin,
    lastEventId: first.lastEventId,
  });
  const events = stream.events().map((f) => f.json);
  stream.close();
  // The duplicates rule: an event in page P's key range at or below P.lastEventId is already reflected.
  const ranges = [
    { upper: first.items.at(-1)!.key, lastEventId: first.lastEventId },
    { upper: undefined, lastEventId: second.lastEventId },
  ];
  const fresh = events.filter((e) => {
    const range = ranges.find((r) => r.upper === undefined || e.key <= r.upper)!;
    return BigInt(e.id) > BigInt(range.lastEventId);
  });
  expect(fresh.map((e) => [e.key, e.row.availableSlots])).toEqual([['tr02', 0]]);
  expect(events.map((e) => e.key)).toEqual(['tr02', 'tr09']);
});

test('filters select the same rows on snapshots and streams; an update that leaves the filter still reaches the stream', async () => {
  const snap = await page('/snapshots/company/acme?entities=trip&where.availableSlots=gte.10&where.route=neq.R11', admin);
  expect(snap.items.map((i) => i.key)).toEqual(['tr10', 'tr12']);
  const inList = await page('/snapshots/company/acme?entities=booking&where.channel=in.(cashier,phone)', admin);
  expect(inList.items.map((i) => i.key)).toEqual(['b2']);

  const stream = await openLiveStream(`${server.url}/events/company/acme?entities=trip&where.availableSlots=gte.10`, {
    token: admin,
    lastEventId: snap.lastEventId,
  });
  await db.sql`update trips set available_slots = 3 where id = 'tr10'`; // leaves the filter: delivered
  await db.sql`update trips set route = 'elsewhere' where id = 'tr03'`; // never in it: not delivered
  await db.sql`update trips set available_slots = 10 where id = 'tr04'`; // enters it: delivered
  await db.sql`update trips set route = 'still in' where id = 'tr12'`; // in it, unrelated column: delivered
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('tr99', 'acme', 'small', '2026-12-24T08:00:00Z', 10, 2)`; // created outside it: not delivered
  await stream.waitFor((f) => f.json?.key === 'tr12');
  expect(stream.events().map((f) => [f.event, f.json.key])).toEqual([
    ['trip.updated', 'tr10'],
    ['trip.updated', 'tr04'],
    ['trip.updated', 'tr12'],
  ]);
  stream.close();
});

test('user and public snapshots: the stream scope’s rows only, public ones as the public projection', async () => {
  const cora = await tokenFor(server, 'cora', 'acme', 'customer');
  const mine = await page('/snapshots/user', cora);
  expect(mine.items.map((i) => `${i.entity}:${i.key}`)).toEqual(['booking:b1', 'booking:b2']);
  expect(mine.items.every((i) => i.userId === 'cora')).toBe(true);
  const filtered = await page('/snapshots/user?entities=booking&where.seats=gt.1', cora);
  expect(filtered.items.map((i) => i.key)).toEqual(['b2']);

  const pub = await page('/snapshots/public/acme?entities=stock');
  expect(pub.items).toEqual([
    { entity: 'stock', key: 's1', companyId: 'acme', userId: null, row: { id: 's1', sku: 'HEL', name: 'Helmet', available: 3 } },
    { entity: 'stock', key: 's2', companyId: 'acme', userId: null, row: { id: 's2', sku: 'ROP', name: 'Rope', available: 0 } },
  ]);
  // Public filters are on the public projection: `available` is computed, `quantity` is not shown.
  const inStock = await page('/snapshots/public/acme?entities=stock&where.available=gt.0');
  expect(inStock.items.map((i) => i.key)).toEqual(['s1']);
  expect((await get('/snapshots/public/acme?entities=stock&where.quantity=gt.0')).status).toBe(400);
  const everyPublic = await page('/snapshots/public/acme');
  expect([...new Set(everyPublic.items.map((i) => i.entity))]).toEqual(['stock', 'trip']);
  expect(everyPublic.items.every((i) => !('companyId' in i.row) && !('userId' in i.row))).toBe(true);
});

test('snapshots follow the stream’s auth rules', async () => {
  expect((await get('/snapshots/company/acme')).status).toBe(401);
  expect((await get('/snapshots/user')).status).toBe(401);
  expect((await get('/snapshots/company/acme', await tokenFor(server, 'cora', 'acme', 'customer'))).status).toBe(403);
  const other = await get('/snapshots/company/acme', await tokenFor(server, 'gina', 'globex', 'admin'));
  expect(other.status).toBe(403);
  expect(other.body.error.code).toBe('forbidden');
  const globex = await page('/snapshots/company/globex', await tokenFor(server, 'gina', 'globex', 'admin'));
  expect(globex.items.map((i) => i.key)).toEqual(['b4', 'g1']);
});

test.each([
  ['/snapshots/company/acme?where.nope=eq.1', 'where.nope'],
  ['/snapshots/company/acme?where.seats=gt.2', 'where.seats'], // a booking column, but not a column of every entity
  ['/snapshots/company/acme?entities=trip&where.capacity=gt.many', 'where.capacity'],
  ['/snapshots/company/acme?entities=trip&where.capacity=between.1', 'where.capacity'],
  ['/snapshots/company/acme?entities=trip&where.bookingHalted=eq.yes', 'where.bookingHalted'],
  ['/snapshots/company/acme?entities=trip&where.capacity=gt.null', 'where.capacity'],
  ['/snapshots/company/acme?entities=trip&where.capacity=in.1,2', 'where.capacity'],
  ['/snapshots/company/acme?entities=trip&where.route=eq.a&where.route=eq.b', 'where.route'],
  ['/snapshots/company/acme?entities=trip&where.x-y=eq.1', 'where.x-y'],
  ['/snapshots/company/acme?entities=nothing', 'unknown entity'],
  ['/snapshots/company/acme?limit=0', 'limit'],
  ['/snapshots/company/acme?limit=1001', 'limit'],
  ['/snapshots/company/acme?after=garbage', 'after'],
  ['/snapshots/public/acme?entities=booking', 'public'],
  ['/events/company/acme?entities=trip&where.capacity=gt.many', 'where.capacity'],
  ['/events/public/acme?entities=trip&where.nope=eq.1', 'where.nope'],
])('bad parameters are a 400 invalid_query before anything is read: %s', async (path, mentions) => {
  const { status, body } = await get(path, admin);
  expect(status).toBe(400);
  expect(body.error.code).toBe('invalid_query');
  expect(body.error.message).toContain(mentions);
});

test('a stream’s filter is checked before the stream starts (no SSE headers on a 400)', async () => {
  const s = await openStream(`${server.url}/events/company/acme?where.seats=gt.1`, { token: admin });
  expect(s.status).toBe(400);
  expect(s.headers.get('content-type')).toContain('application/json');
});
