import { EventSource } from 'eventsource';
import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { caughtUp, closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;
let adminToken: string;

beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase({ config: { HEARTBEAT_MS: 200 } }));
  adminToken = await tokenFor(server, 'alice', 'acme', 'admin');
});
afterAll(() => closeService(server, db));

const addTrip = (id: string, company = 'acme') =>
  db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
         values (${id}, ${company}, 'R', '2026-12-24T08:00:00Z', 10, 10)`;

test('entities= and keys= narrow a stream', async () => {
  const stock = await openStream(`${server.url}/events/company/acme?entities=stock`, { token: adminToken });
  const twoTrips = await openStream(`${server.url}/events/company/acme?entities=trip&keys=k1,k3`, { token: adminToken });
  await stock.waitFor((f) => f.event === 'ready');
  await twoTrips.waitFor((f) => f.event === 'ready');
  for (const id of ['k1', 'k2', 'k3']) await addTrip(id);
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values ('s1', 'acme', 'S1', 'Lamp', 3)`;
  await stock.waitFor((f) => f.event === 'stock.created');
  await twoTrips.waitFor((f) => f.json?.key === 'k3');
  expect(stock.events().map((f) => f.event)).toEqual(['stock.created']);
  expect(twoTrips.events().map((f) => f.json.key)).toEqual(['k1', 'k3']);
  stock.close();
  twoTrips.close();
});

test('ready reports the position; heartbeats are comment lines', async () => {
  await addTrip('before-ready');
  await caughtUp(server, db.sql); // the instance has delivered it, so its position is the log's head
  const s = await openStream(`${server.url}/events/company/acme`, { token: adminToken });
  const ready = await s.waitFor((f) => f.event === 'ready');
  const [head] = await db.sql<{ id: string }[]>`select max(id)::text as id from pgfeed.events`;
  expect(ready.json).toEqual({ lastEventId: head?.id, replayed: 0 });
  expect(ready.id).toBe(head?.id);
  await s.waitFor(() => s.text().includes('\n: ping\n'));
  s.close();
});

test('Last-Event-ID header wins over the lastEventId query parameter', async () => {
  const s = await openStream(`${server.url}/events/company/acme`, { token: adminToken });
  await s.waitFor((f) => f.event === 'ready');
  await addTrip('h1');
  await addTrip('h2');
  const first = await s.waitFor((f) => f.json?.key === 'h1');
  await s.waitFor((f) => f.json?.key === 'h2'); // in this instance's ring before the resume
  s.close();
  const resumed = await openStream(`${server.url}/events/company/acme?lastEventId=1`, {
    token: adminToken,
    lastEventId: first.id,
  });
  const ready = await resumed.waitFor((f) => f.event === 'ready');
  expect(resumed.events().map((f) => f.json.key)).toEqual(['h2']);
  expect(ready.json.replayed).toBe(1);
  resumed.close();
});

test('a standard EventSource client receives named events (cookie-less, access_token)', async () => {
  const es = new EventSource(`${server.url}/events/company/acme?entities=trip&access_token=${adminToken}`);
  try {
    await new Promise<void>((resolve, reject) => {
      es.addEventListener('ready', () => resolve());
      es.onerror = (e) => reject(new Error(`EventSource error: ${String(e.message)}`));
    });
    const got = new Promise<MessageEvent>((resolve) => es.addEventListener('trip.created', resolve));
    await addTrip('es-1');
    const message = await got;
    expect(JSON.parse(message.data as string)).toMatchObject({ type: 'trip.created', key: 'es-1' });
    expect(message.lastEventId).toMatch(/^\d+$/);
  } finally {
    es.close();
  }
});
