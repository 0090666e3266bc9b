/**
 * live() against a real pgfeed: a snapshot in keyset pages handed to the stream at the pages' positions,
 * then creates, updates, deletes, rows leaving the scope or the filter, a change committed between two
 * pages, and a reset, as the application sees them: its rows, its change callback, its connection state.
 */
import { type Change, type ConnectionStatus, type Live, live } from '../src/client';
import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { writeReset } from './support/fixtures';
import { caughtUp, closeService, serviceOnFreshDatabase, tokenFor } from './support/service';

let db: TestDatabase;
let server: Pgfeed;
let admin: string;
const opened: Live[] = [];

beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase({
    seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                       select 'lt' || g, 'acme', 'R' || g, '2026-12-24T08:00:00Z', 20, 20 from generate_series(1, 5) g`,
  }));
  admin = await tokenFor(server, 'alice', 'acme', 'admin');
}, 60_000);
afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
});
afterAll(() => closeService(server, db));

/** A live collection of acme's rows that records its changes and states; closed after the test. */
function watch(options: Partial<Parameters<typeof live>[0]> = {}) {
  const changes: Change[] = [];
  const states: ConnectionStatus[] = [];
  const l = live({
    url: server.url,
    scope: { company: 'acme' },
    token: admin,
    onChange: (c) => changes.push(...c),
    onState: (s) => states.push(s.status),
    backoff: { minMs: 20, maxMs: 100 },
    ...options,
  });
  opened.push(l);
  const slots = (key: string) => l.get('trip', key)?.row.availableSlots;
  return { l, changes, states, slots, isLive: () => eventually(() => l.state.status === 'live', { what: 'live' }) };
}

test('the snapshot in pages, then creates, updates and deletes, each reported once, in a collection keyed by entity and key', async () => {
  const { l, changes, states, slots, isLive } = watch({ entities: ['trip'], pageSize: 2 });
  await l.loaded;
  expect(l.items.map((i) => i.key)).toEqual(['lt1', 'lt2', 'lt3', 'lt4', 'lt5']);
  await isLive();
  expect(states).toEqual(['live']); // from connecting (the initial state)

  changes.length = 0;
  await db.sql`update trips set available_slots = 7 where id = 'lt2'`;
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots) values ('lt9', 'acme', 'N', now(), 4, 4)`;
  await db.sql`delete from trips where id = 'lt3'`;
  await eventually(() => l.get('trip', 'lt3') === undefined, { what: 'the delete' });
  expect(slots('lt2')).toBe(7);
  expect(changes.map((c) => [c.kind, c.item.key, c.changes ?? null])).toEqual([
    ['update', 'lt2', { availableSlots: 7, updatedAt: l.get('trip', 'lt2')!.row.updatedAt }],
    ['insert', 'lt9', null],
    ['delete', 'lt3', null],
  ]);
  expect(l.items.map((i) => i.key)).toEqual(['lt1', 'lt2', 'lt4', 'lt5', 'lt9']);
});

test('a change committed between two snapshot pages is in the rows once, whichever page saw it', async () => {
  let pagesServed = 0;
  const between: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (String(input).includes('/snapshots/') && ++pagesServed === 1) {
      // After page 1 (lt1, lt2) was read and before page 2: a change in each page's range.
      await db.sql`update trips set available_slots = available_slots - 1 where id in ('lt1', 'lt5')`;
      await caughtUp(server, db.sql);
    }
    return res;
  };
  const { l, changes, slots, isLive } = watch({ entities: ['trip'], pageSize: 2, fetch: between });
  await l.loaded;
  await isLive();
  const [row] = await db.sql<{ a: number; b: number }[]>`select
      (select available_slots from trips where id = 'lt1') as a, (select available_slots from trips where id = 'lt5') as b`;
  await eventually(() => slots('lt1') === row!.a, { what: 'lt1 current' });
  expect(slots('lt5')).toBe(row!.b);
  // lt1's page was read before the change: the stream brings it, once; lt5's page already had it.
  expect(changes.filter((c) => c.item.key === 'lt1').map((c) => c.kind)).toEqual(['insert', 'update']);
  expect(changes.filter((c) => c.item.key === 'lt5').map((c) => c.kind)).toEqual(['insert']);
});

test('a row that leaves the filter or the company is removed; one that enters the filter is added', async () => {
  const { l, isLive } = watch({ entities: ['trip'], where: { availableSlots: 'gte.10' } });
  await l.loaded;
  await isLive();
  expect(l.get('trip', 'lt4')).toBeDefined();
  await db.sql`update trips set available_slots = 3 where id = 'lt4'`; // leaves the filter
  await db.sql`update trips set company_id = 'globex' where id = 'lt5'`; // leaves the company
  await eventually(() => !l.get('trip', 'lt4') && !l.get('trip', 'lt5'), { what: 'both rows gone' });
  await db.sql`update trips set available_slots = 12 where id = 'lt4'`; // back in
  await eventually(() => l.get('trip', 'lt4')?.row.availableSlots === 12, { what: 'lt4 back' });
  await db.sql`update trips set company_id = 'acme' where id = 'lt5'`;
});

test('a reset reloads the snapshot, replaces the rows at once and goes on live; a bad filter is refused before any request', async () => {
  let snapshots = 0;
  const counting: typeof fetch = (input, init) => {
    if (String(input).includes('/snapshots/')) snapshots++;
    return fetch(input, init);
  };
  const { l, changes, isLive } = watch({ entities: ['trip'], fetch: counting });
  await l.loaded;
  await isLive();
  expect(snapshots).toBe(1);
  await writeReset(db.sql);
  await eventually(() => snapshots === 2, { what: 'the reload' });
  await isLive();
  changes.length = 0;
  await db.sql`update trips set available_slots = 11 where id = 'lt1'`;
  await eventually(() => l.get('trip', 'lt1')?.row.availableSlots === 11, { what: 'a change after the reset' });
  expect(changes.map((c) => [c.kind, c.item.key])).toEqual([['update', 'lt1']]);
  expect(snapshots).toBe(2); // one reload, not one per reconnect

  expect(() => live({ url: server.url, scope: { company: 'acme' }, where: { seats: 'between.1' } })).toThrow(
    /where.seats: "between.1" must be <op>.<value>/,
  );
});

test('a refused token closes the collection with the error; loaded rejects', async () => {
  const customer = await tokenFor(server, 'cora', 'acme', 'customer');
  const { l } = watch({ token: customer });
  await expect(l.loaded).rejects.toMatchObject({ type: 'http', status: 403 });
  expect(l.state).toMatchObject({ status: 'closed', error: { status: 403 } });
});

test('pause closes the stream and keeps the rows; resume catches up on every change missed, once', async () => {
  const { l, changes, slots, isLive } = watch({ entities: ['trip'] });
  await l.loaded;
  await isLive();
  const streams = server.status().streams;
  l.pause();
  expect(l.state).toEqual({ status: 'paused' });
  await eventually(() => server.status().streams === streams - 1, { what: 'the stream closed' });
  await db.sql`update trips set available_slots = 2 where id = 'lt2'`;
  await db.sql`update trips set available_slots = 1 where id = 'lt2'`;
  await caughtUp(server, db.sql);
  changes.length = 0;
  l.resume();
  await isLive();
  await eventually(() => slots('lt2') === 1, { what: 'the missed changes' });
  expect(changes.map((c) => [c.kind, c.item.key, c.changes?.availableSlots])).toEqual([
    ['update', 'lt2', 2],
    ['update', 'lt2', 1],
  ]);
});
