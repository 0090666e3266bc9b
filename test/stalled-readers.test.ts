import { metric, fleetOnFreshDatabase, tokenFor, captured } from './support/service';
import { openLiveStream, openStalledStream, openStream } from './support/stream';
import { eventually } from './support/eventually';

// Readers that do not read (issue 14.5): a replay holds a slot only while it reads the
// database, a stalled stream is cut after STALLED_STREAM_MS, and anonymous replays have
// slots of their own.

const world = fleetOnFreshDatabase();
/** Public trips of acme, ~4 KB each: ~16 MB of replay, far more than a socket's buffers. */
const ROWS = 4000;
let globexId = '';

beforeAll(async () => {
  await world.start(); // attaches capture to the tables; the tests' own services start after the writes
  const route = 'x'.repeat(4000);
  await world.db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
    select 'bulk-' || g, 'acme', ${route}, '2026-12-24T08:00:00Z', 10, 10 from generate_series(1, ${ROWS}) g`;
  await world.db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
    values ('g-1', 'globex', 'G', '2026-12-24T08:00:00Z', 10, 10)`;
  await world.db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
    values ('g-2', 'globex', 'G', '2026-12-24T08:00:00Z', 10, 10)`;
  await captured(world.db.sql);
  const [g] = await world.db.sql<{ id: string }[]>`select min(id)::text as id from pgfeed.events where key = 'g-1'`;
  globexId = g!.id;
}, 120_000);

test("four anonymous replays that never read do not delay another tenant's resume", async () => {
  // Started after the writes: its ring is empty, so every resume replays from the log.
  const server = await world.start({ MAX_CONCURRENT_REPLAYS: 4, STALLED_STREAM_MS: 120_000 });
  const stalled = await Promise.all(
    Array.from({ length: 4 }, () => openStalledStream(`${server.url}/events/public/acme`, { 'Last-Event-ID': '0' })),
  );
  expect(stalled.map((s) => s.status)).toEqual([200, 200, 200, 200]);
  await eventually(async () => (await metric(server, 'pgfeed_replay_total', { source: 'log' })) === 4);

  const token = await tokenFor(server, 'gina', 'globex', 'admin');
  const started = Date.now();
  const resumed = await openLiveStream(`${server.url}/events/company/globex`, { token, lastEventId: globexId });
  const waited = Date.now() - started;
  expect(resumed.ready.json).toMatchObject({ replayed: 1 });
  expect(resumed.events().map((f) => f.json.key)).toEqual(['g-2']);
  // The four are still open (not cut, not finished): they simply no longer stand in the way.
  expect(server.status().streams).toBe(5);
  if (process.env.PGFEED_TEST_FIGURES) console.log(`ready after ${waited} ms with four stalled replays open`);
  resumed.close();
  stalled.forEach((s) => s.destroy());
}, 60_000);

test('a replay whose client stops reading is cut after STALLED_STREAM_MS and resumes losing nothing', async () => {
  const server = await world.start({ STALLED_STREAM_MS: 500 });
  const stalled = await openStalledStream(`${server.url}/events/public/acme`, { 'Last-Event-ID': '0' });
  expect(stalled.status).toBe(200);
  await eventually(async () => (await metric(server, 'pgfeed_slow_client_disconnects_total')) === 1, { timeoutMs: 20_000 });
  await eventually(() => server.status().streams === 0);
  stalled.destroy();

  // The same client, reading this time, gets every row from the start.
  const resumed = await openStream(`${server.url}/events/public/acme?entities=trip`, { lastEventId: '0' });
  const ready = await resumed.waitFor((f) => f.event === 'ready', { timeoutMs: 60_000 });
  expect(ready.json).toMatchObject({ replayed: ROWS });
  const keys = resumed.events().map((f) => f.json.key as string);
  expect(new Set(keys).size).toBe(ROWS);
  expect(keys[0]).toBe('bulk-1');
  resumed.close();
}, 90_000);
