import { monitorEventLoopDelay } from 'node:perf_hooks';
import { metric, fleetOnFreshDatabase, tokenFor, TEST_CAPTURE } from './support/service';
import { openLiveStream, openStalledStream, type Frame } from './support/stream';
import { eventually } from './support/eventually';

// Large transactions stream and never freeze the service (issue 14.7): a reader that keeps
// up receives every row of one big transaction live, in both capture modes, while one that
// does not read is cut by bytes; another tenant's change committed right after follows it.

const world = fleetOnFreshDatabase();
/** 20 000 rows (~8 MB of frames, eight times SLOW_CLIENT_MAX_BYTES) keep the suite fast; PGFEED_TEST_LARGE_ROWS=100000 runs the size. */
const ROWS = Number(process.env.PGFEED_TEST_LARGE_ROWS ?? 20_000);

test(`a ${ROWS}-row transaction reaches a reader that keeps up live; a reader that does not is cut (${TEST_CAPTURE})`, async () => {
  const server = await world.start();
  const acme = await tokenFor(server, 'alice', 'acme', 'admin');
  const reader = await openLiveStream(`${server.url}/events/company/acme?entities=trip`, { token: acme });
  const globex = await openLiveStream(`${server.url}/events/company/globex`, {
    token: await tokenFor(server, 'gina', 'globex', 'admin'),
  });
  const stalled = await openStalledStream(`${server.url}/events/company/acme`, { Authorization: `Bearer ${acme}` });
  await eventually(() => server.status().streams === 3);

  const arrivals = new Map<string, number>();
  const seen = (f: Frame) => void (f.json?.key && arrivals.set(f.json.key as string, Date.now()));
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const committed = Date.now();
  await world.db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
    select 'big-' || g, 'acme', 'R', '2026-12-24T08:00:00Z', 10, 10 from generate_series(1, ${ROWS}) g`;
  const bigCommitted = Date.now();
  await world.db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
    values ('after-big', 'globex', 'G', '2026-12-24T08:00:00Z', 10, 10)`;

  const other = await globex.waitFor((f) => f.json?.key === 'after-big', { timeoutMs: 240_000 });
  seen(other);
  const last = await reader.waitFor((f) => f.json?.key === `big-${ROWS}`, { timeoutMs: 240_000 });
  seen(last);
  loop.disable();

  // Every row, once, in commit order, and the reader is still connected.
  const keys = reader.events().map((f) => f.json.key as string);
  expect(keys).toHaveLength(ROWS);
  expect(keys[0]).toBe('big-1');
  expect(keys.every((k, i) => k === `big-${i + 1}`)).toBe(true);
  const ids = reader.events().map((f) => BigInt(f.id!));
  expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
  expect(globex.events().map((f) => f.json.key)).toEqual(['after-big']);
  // The reader that never read passed SLOW_CLIENT_MAX_BYTES and was cut; the two that read were not.
  await eventually(async () => (await metric(server, 'pgfeed_slow_client_disconnects_total')) === 1, { timeoutMs: 30_000 });
  await eventually(() => server.status().streams === 2);
  if (process.env.PGFEED_TEST_FIGURES) {
    const lastAt = arrivals.get(`big-${ROWS}`)!;
    const otherAt = arrivals.get('after-big')!;
    console.log(
      `${TEST_CAPTURE}: ${ROWS} rows committed in ${bigCommitted - committed} ms; last row at the reader ` +
        `${lastAt - bigCommitted} ms after commit; the other tenant's change ${otherAt - lastAt} ms after the last row; ` +
        `longest event-loop stall ${Math.round(loop.max / 1e6)} ms (p99 ${Math.round(loop.percentile(99) / 1e6)} ms)`,
    );
  }
  stalled.destroy();
  reader.close();
  globex.close();
}, 300_000);
