import type { Pgfeed } from '../src/service';
import { EntityRegistry } from '../src/events/entity';
import { EventLog } from '../src/events/log';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { eventually } from './support/eventually';
import { captured, caughtUp, metric, startService, tokenFor } from './support/service';
import { type OpenStream, openLiveStream, openStream } from './support/stream';

let db: TestDatabase;
let writeTrips: (count: number) => Promise<string[]>;
let token: string;
const running: Pgfeed[] = [];

beforeAll(async () => {
  db = await freshDatabase();
  writeTrips = tripWriter(db.sql, 'r', 'globex');
  await seedTwoCompanies(db.sql);
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
  await db?.drop();
});

async function service(config: Parameters<typeof startService>[1] = {}) {
  const s = await startService(db.url, config);
  running.push(s);
  token ??= await tokenFor(s, 'alice', 'acme', 'admin');
  return s;
}

async function resume(server: Pgfeed, lastEventId: string | undefined): Promise<{ s: OpenStream; ready: any }> {
  const s = await openLiveStream(`${server.url}/events/company/acme`, {
    token,
    ...(lastEventId !== undefined ? { lastEventId } : {}),
  });
  return { s, ready: s.ready.json };
}

const keysOf = (s: OpenStream) => s.events().map((f) => f.json.key as string);

test('resume on the same instance from the ring, then live', async () => {
  const server = await service();
  const { s: first, ready } = await resume(server, undefined);
  const seen = await writeTrips(3);
  await first.waitFor((f) => f.json?.key === seen.at(-1));
  first.close();
  const missed = await writeTrips(4);
  await caughtUp(server, db.sql);
  const { s, ready: again } = await resume(server, first.events().at(-1)!.id);
  expect(keysOf(s)).toEqual(missed);
  expect(again.replayed).toBe(4);
  expect(await metric(server, 'pgfeed_replay_total', { source: 'ring' })).toBeGreaterThan(0);
  const liveKeys = await writeTrips(1);
  await s.waitFor((f) => f.json?.key === liveKeys[0]);
  expect(keysOf(s)).toEqual([...missed, ...liveKeys]);
  expect(ready.lastEventId).toMatch(/^\d+$/);
  s.close();
});

test('resume on a second instance, and from beyond the ring (the log)', async () => {
  const a = await service();
  const b = await service({ REPLAY_BUFFER_SIZE: 2 });
  const { s: onA } = await resume(a, undefined);
  const seen = await writeTrips(2);
  await onA.waitFor((f) => f.json?.key === seen.at(-1));
  onA.close();
  const missed = await writeTrips(5); // more than b's ring holds
  await caughtUp(b, db.sql);
  const { s: onB, ready } = await resume(b, onA.events().at(-1)!.id);
  expect(keysOf(onB)).toEqual(missed);
  expect(ready.replayed).toBe(5);
  expect(await metric(b, 'pgfeed_replay_total', { source: 'log' })).toBe(1);
  onB.close();
});

test('resume after the service was stopped and started again, with writes in between', async () => {
  const first = await service();
  const { s } = await resume(first, undefined);
  const seen = await writeTrips(2);
  await s.waitFor((f) => f.json?.key === seen.at(-1));
  const from = s.events().at(-1)!.id;
  await first.close();
  await s.ended; // shutdown ends streams
  running.splice(running.indexOf(first), 1);
  const missed = await writeTrips(3); // nobody is listening
  const second = await service();
  const { s: again, ready } = await resume(second, from);
  expect(keysOf(again)).toEqual(missed);
  expect(ready.replayed).toBe(3);
  const live = await writeTrips(1);
  await again.waitFor((f) => f.json?.key === live[0]);
  expect(keysOf(again)).toEqual([...missed, ...live]);
  again.close();
});

describe('a resume that cannot be answered says reset, then goes on live', () => {
  test.each([
    ['malformed', 'abc'],
    ['malformed', '-5'],
    ['malformed', '12345678901234567890123'],
    ['unknown', '999999999'],
  ])('%s: %s', async (reason, id) => {
    const server = running[0] ?? (await service());
    // Everything earlier tests wrote delivered here first (they waited on other instances): what the
    // stream gets after its reset is then only what is written below.
    await caughtUp(server, db.sql);
    const s = await openStream(`${server.url}/events/company/acme`, { token, lastEventId: id });
    const reset = await s.waitFor((f) => f.event === 'reset');
    expect(reset.json.reason).toBe(reason);
    expect(typeof reset.json.message).toBe('string');
    await s.waitFor((f) => f.event === 'ready');
    const live = await writeTrips(1);
    await s.waitFor((f) => f.json?.key === live[0]);
    expect(keysOf(s)).toEqual(live);
    s.close();
  });

  test('expired: older than the retained history', async () => {
    const server = running[0] ?? (await service());
    const { s } = await resume(server, undefined);
    const old = await writeTrips(1);
    await s.waitFor((f) => f.json?.key === old[0]);
    const oldId = s.events().at(-1)!.id!;
    s.close();
    await writeTrips(1);
    await captured(db.sql); // in wal mode, that write is in the log before it is aged with the rest
    // Age everything past a 1-minute retention and prune, as the background pruner would.
    await db.sql`update pgfeed.events set committed_at = committed_at - interval '2 minutes'`;
    expect(await new EventLog(db.sql, new EntityRegistry()).prune(60_000, 5000)).toBeGreaterThan(0);
    const fresh = await startService(db.url); // an empty ring: only the log can answer
    running.push(fresh);
    const again = await openStream(`${fresh.url}/events/company/acme`, { token, lastEventId: oldId });
    const reset = await again.waitFor((f) => f.event === 'reset');
    expect(reset.json.reason).toBe('expired');
    await again.waitFor((f) => f.event === 'ready');
    const live = await writeTrips(1);
    await again.waitFor((f) => f.json?.key === live[0]);
    expect(keysOf(again)).toEqual(live);
    expect(await metric(fresh, 'pgfeed_resets_total', { reason: 'expired' })).toBe(1);
    again.close();
  });
});

test('pruning deletes the expired prefix of the log, oldest first, and moves the horizon to its newest id', async () => {
  if (running.length === 0) await service(); // in wal mode, someone must capture the writes
  await writeTrips(4);
  await captured(db.sql);
  const ids = (await db.sql<{ id: string }[]>`select id::text from pgfeed.events order by id`).map((r) => r.id);
  expect(ids.length).toBeGreaterThanOrEqual(8);
  // Expired: everything through ids[k], and ids[k + 2], whose clock ran behind: it comes after an
  // event within the retention (ids[k + 1]), so it must stay until that one expires too.
  // Aged by 2 minutes against a 1-minute retention, so the other services (24 h, 5 min) leave them be.
  const k = ids.length - 5;
  const expired = [...ids.slice(0, k + 1), ids[k + 2]!];
  await db.sql`update pgfeed.events set committed_at = committed_at - interval '2 minutes' where id = any(${expired}::bigint[])`;
  const log = new EventLog(db.sql, new EntityRegistry());
  expect(await log.prune(60_000, 2)).toBe(k + 1); // batches of 2: the loop goes on until the prefix is gone
  const [after] = await db.sql<{ horizon: string; left: string[] }[]>`
    select (select pruned_through from pgfeed.horizon)::text as horizon,
           (select array_agg(id::text order by id) from pgfeed.events) as left`;
  expect(after).toEqual({ horizon: ids[k], left: ids.slice(k + 1) });
  // Nothing more to do: nothing deleted, the horizon stays.
  expect(await log.prune(60_000, 2)).toBe(0);
  const [again] = await db.sql<{ horizon: string }[]>`select pruned_through::text as horizon from pgfeed.horizon`;
  expect(again?.horizon).toBe(ids[k]);
  // What a resume is told: below the horizon expired, the horizon and kept events answerable.
  expect(await log.status(BigInt(ids[0]!))).toBe('expired');
  expect(await log.status(BigInt(ids[k - 1]!))).toBe('expired');
  expect(await log.status(BigInt(ids[k]!))).toBe('ok');
  expect(await log.status(BigInt(ids[k + 2]!))).toBe('ok');
  // Nor does pruning need an index on committed_at (000005 dropped it).
  const [index] = await db.sql`select to_regclass('pgfeed.events_committed_at') as name`;
  expect(index?.name).toBeNull();
});

test('the background pruner deletes events older than EVENT_RETENTION and moves the horizon', async () => {
  const server = await service({ EVENT_RETENTION: 300_000, PRUNE_INTERVAL_MS: 1000 });
  await writeTrips(2);
  await captured(db.sql);
  const [head] = await db.sql<{ id: string }[]>`select max(id)::text as id from pgfeed.events`;
  // Age exactly these events (and everything before them) past the 5-minute retention.
  await db.sql`update pgfeed.events set committed_at = committed_at - interval '10 minutes' where id <= ${head!.id}::bigint`;
  await eventually(async () => (await metric(server, 'pgfeed_events_pruned_total')) > 0, { what: 'a prune' });
  const [row] = await db.sql<{ horizon: string; left: number }[]>`
    select (select pruned_through from pgfeed.horizon)::text as horizon,
           (select count(*)::int from pgfeed.events where id <= ${head!.id}::bigint) as left`;
  expect(row).toEqual({ horizon: head!.id, left: 0 });
  // A resume from the horizon itself still works (from below it: see the expired test).
  const { s } = await resume(server, head!.id);
  expect(s.frames.some((f) => f.event === 'reset')).toBe(false);
  s.close();
});
