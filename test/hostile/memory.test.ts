/**
 * Memory is bounded in bytes, not counts: the replay ring by
 * REPLAY_BUFFER_BYTES (huge rows are left to the log), and the live events a
 * replaying stream holds by SLOW_CLIENT_MAX_BYTES — past it the stream is cut
 * off, and resumes without loss.
 */
import http from 'node:http';
import { eventually } from '../support/eventually';
import { captured, caughtUp, metric, fleetOnFreshDatabase, tokenFor } from '../support/service';
import { openLiveStream } from '../support/stream';

const world = fleetOnFreshDatabase();
const service = world.start;

const insertTrips = (prefix: string, count: number, routeBytes: number) =>
  world.db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
         select ${prefix} || g, 'acme', repeat('x', ${routeBytes}), '2026-12-24T08:00:00Z', 10, 10 from generate_series(1, ${count}::int) g`;

test('the ring holds at most REPLAY_BUFFER_BYTES; rows too large for it are resumed from the log, whole', async () => {
  const server = await service({ REPLAY_BUFFER_BYTES: 1_048_576 });
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const start = await openLiveStream(`${server.url}/events/company/acme`, { token });
  start.close();
  await insertTrips('big-', 40, 250_000); // 10 MB of rows, each over an eighth of the budget
  await insertTrips('small-', 200, 1000);
  await caughtUp(server, world.db.sql);
  expect(await metric(server, 'pgfeed_replay_buffer_bytes')).toBeLessThanOrEqual(1_048_576);
  expect(await metric(server, 'pgfeed_replay_buffer_bytes')).toBeGreaterThan(100_000); // the small rows stayed

  const resumed = await openLiveStream(`${server.url}/events/company/acme`, { token, lastEventId: start.ready.id! });
  const rows = resumed.events();
  expect(rows).toHaveLength(240);
  expect(rows[0]?.json.row.route).toHaveLength(250_000);
  expect(rows.map((f) => f.json.key)).toEqual([
    ...Array.from({ length: 40 }, (_, i) => `big-${i + 1}`),
    ...Array.from({ length: 200 }, (_, i) => `small-${i + 1}`),
  ]);
  resumed.close();
});

test('a stream that cannot take its replay while live events pile up is cut off, and resumes without loss', async () => {
  await insertTrips('backlog-', 3000, 4000); // ~12 MB to replay: far more than socket buffers
  const server = await service({ SLOW_CLIENT_MAX_BYTES: 65_536 });
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  await captured(world.db.sql);
  const [first] = await world.db.sql<{ id: string }[]>`select min(id)::text as id from pgfeed.events where key = 'backlog-1'`;
  const from = (BigInt(first!.id) - 1n).toString();
  // A client that asks for the backlog and then reads nothing: the replay stalls on the socket.
  const stalled = await new Promise<http.IncomingMessage>((resolve) => {
    http.get(
      `${server.url}/events/company/acme`,
      { headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': from } },
      resolve,
    );
  });
  stalled.pause();
  await eventually(() => server.status().streams === 1);
  await insertTrips('live-', 100, 4000); // ~400 KB of live events held for it: past the 64 KiB bound
  await eventually(async () => (await metric(server, 'pgfeed_slow_client_disconnects_total')) === 1, { timeoutMs: 20_000 });
  await eventually(() => server.status().streams === 0);
  stalled.destroy();
  await caughtUp(server, world.db.sql);

  const resumed = await openLiveStream(`${server.url}/events/company/acme`, { token, lastEventId: from });
  const keys = resumed.events().map((f) => f.json.key as string);
  expect(keys.slice(0, 3000)).toEqual(Array.from({ length: 3000 }, (_, i) => `backlog-${i + 1}`));
  expect(keys.slice(3000)).toEqual(Array.from({ length: 100 }, (_, i) => `live-${i + 1}`));
  resumed.close();
}, 60_000);
