/**
 * What only CAPTURE=wal has: the capturer handing over when it dies, huge
 * transactions, TRUNCATE, a lost slot, and rows that look exactly as the
 * trigger path makes them. Runs with PGFEED_TEST_CAPTURE=wal (jest.config.ts:
 * it needs a server with wal_level=logical); the rest of the suite runs in
 * both modes.
 */
import { defaultSlotName } from '../src/capture/wal/slot';
import { connect } from '../src/db/connect';
import type { Pgfeed } from '../src/service';
import { finish, pgfeed } from './support/cli';
import { startCapturingProcess } from './support/capturing-process';
import { freshDatabase, type TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { captured, caughtUp, closeService, metric, serviceOnFreshDatabase, startService, tokenFor } from './support/service';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { startProxy } from './support/proxy';
import { openLiveStream, openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed | undefined;

beforeAll(async () => ({ db, server } = await serviceOnFreshDatabase({ config: { CAPTURE: 'wal' } })));
afterAll(() => closeService(server, db));

const keysOf = async (like: string) =>
  (await db.sql<{ key: string; op: string }[]>`select key, op from pgfeed.events where key like ${like} order by id`).map(
    (r) => `${r.op}:${r.key}`,
  );

test('the capturing instance is killed mid-burst: another takes over within seconds, nothing lost or doubled', async () => {
  // A second process becomes the capturer; this file's instance is then a standby.
  await server!.close();
  const { child, exited } = await startCapturingProcess(['demo', '--seed', 'never'], db.url);
  try {
    // A client that stalls for a moment under a 50 000-row burst must not be cut off here (see limits.test.ts for that).
    server = await startService(db.url, { CAPTURE: 'wal', CAPTURE_TAKEOVER_MS: 200, SLOW_CLIENT_MAX_BYTES: 67_108_864 });
    expect(server.status().capture.mode).toBe('wal');
    await eventually(() => server!.status().capture.role === 'standby', { what: 'this instance standing by' });
    const token = await tokenFor(server, 'alice', 'acme', 'admin');
    const stream = await openStream(`${server.url}/events/company/acme`, { token });
    await stream.waitFor((f) => f.event === 'ready');

    // Four writers commit one-row transactions; the capturer dies in the middle.
    const committed: string[] = [];
    let writing = true;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) {
        const key = `burst-${w}-${i}`;
        await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values (${key}, 'acme', ${key}, 'x', 1)`;
        committed.push(key);
      }
    });
    await eventually(() => committed.length >= 300, { what: '300 writes' });
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await exited;
    await eventually(() => server!.status().capture.role === 'capturing', { timeoutMs: 10_000, what: 'takeover' });
    const takeoverMs = Date.now() - killedAt;
    await eventually(() => committed.length >= 600, { what: '600 writes' });
    writing = false;
    await Promise.all(writers);
    await caughtUp(server, db.sql, 20_000);

    // Every committed write is in the log exactly once, and the stream got each once, in log order.
    const inLog = await keysOf('burst-%');
    expect([...inLog].sort()).toEqual(committed.map((k) => `insert:${k}`).sort());
    // The instance has them all; the client has them once the last one's frame arrived.
    await stream.waitFor((f) => `${f.json?.op}:${f.json?.key}` === inLog.at(-1), { timeoutMs: 20_000 });
    const delivered = stream.events().map((f) => `${f.json.op}:${f.json.key}`);
    expect(delivered).toEqual(inLog);
    expect(takeoverMs).toBeLessThan(5000);
    stream.close();
  } finally {
    child.kill('SIGKILL');
  }
}, 90_000);

test('a transaction of 50 000 rows arrives whole, once, in order', async () => {
  const token = await tokenFor(server!, 'alice', 'acme', 'admin');
  const stream = await openStream(`${server!.url}/events/company/acme`, { token });
  await stream.waitFor((f) => f.event === 'ready');
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity)
               select 'big-' || lpad(g::text, 5, '0'), 'acme', 'SKU' || g, 'bulk', 1 from generate_series(1, 50000) g`;
  await stream.waitFor((f) => f.json?.key === 'big-50000', { timeoutMs: 60_000 });
  const keys = stream.events().map((f) => f.json.key as string);
  expect(keys).toHaveLength(50_000);
  expect(keys).toEqual(Array.from({ length: 50_000 }, (_, i) => `big-${String(i + 1).padStart(5, '0')}`));
  const ids = stream.events().map((f) => BigInt(f.id!));
  expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
  stream.close();
}, 90_000);

test('under load, one append carries many transactions: the database does not pay per write', async () => {
  const appends0 = await metric(server!, 'pgfeed_capture_appends_total');
  const changes0 = await metric(server!, 'pgfeed_capture_changes_total');
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity)
               select 'load-' || g, 'acme', 'LD' || g, 'load', 0 from generate_series(1, 20) g`;
  // 400 one-row transactions from 20 connections at once.
  const writer = connect(db.url, { max: 20 });
  await Promise.all(
    Array.from({ length: 20 }, async (_, w) => {
      for (let i = 0; i < 20; i++) await writer`update stock_items set quantity = quantity + 1 where id = ${`load-${w + 1}`}`;
    }),
  );
  await writer.end();
  await captured(db.sql);
  const appends = (await metric(server!, 'pgfeed_capture_appends_total')) - appends0;
  const changes = (await metric(server!, 'pgfeed_capture_changes_total')) - changes0;
  expect(changes).toBe(420);
  expect(await db.sql`select count(*)::int as n from pgfeed.events where key like 'load-%'`).toEqual([{ n: 420 }]);
  expect(appends).toBeLessThan(changes / 4);
});

test('the capturing instance delivers its own appends without reading them back; a standby reads the log; both the same', async () => {
  const other = await startService(db.url, { CAPTURE: 'wal' });
  try {
    expect(server!.status().capture.role).toBe('capturing');
    expect(other.status().capture.role).toBe('standby');
    const own0 = await metric(server!, 'pgfeed_events_own_total');
    const streams = await Promise.all(
      [server!, other].map(async (s) =>
        openLiveStream(`${s.url}/events/company/acme?entities=stock`, {
          token: await tokenFor(s, 'alice', 'acme', 'admin'),
        }),
      ),
    );
    await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values ('own-0', 'acme', 'OWN', 'own', 1)`;
    await db.sql`insert into stock_items (id, company_id, sku, name, quantity)
                 select 'own-' || g, 'acme', 'OWN' || g, 'own', 1 from generate_series(1, 300) g`;
    const writer = connect(db.url, { max: 10 });
    await Promise.all(
      Array.from({ length: 10 }, async (_, w) => {
        for (let i = 1; i <= 3; i++) await writer`update stock_items set quantity = quantity + ${i} where id = ${`own-${w + 1}`}`;
      }),
    );
    await writer.end();
    for (const s of streams) await s.waitFor(() => s.events().length === 331);
    const [mine, theirs] = streams.map((s) => s.events().map((f) => `${f.id} ${f.event} ${f.json.key}`));
    expect(mine).toEqual(theirs);
    expect(new Set(mine).size).toBe(331);
    // All but at most the first append (its first id may follow a gap in the sequence: then the log brings it).
    expect((await metric(server!, 'pgfeed_events_own_total')) - own0).toBeGreaterThanOrEqual(330);
    expect(await metric(other, 'pgfeed_events_own_total')).toBe(0);
    streams.forEach((s) => s.close());
  } finally {
    await other.close();
  }
});

test('TRUNCATE of a watched table reaches every stream that carries its entity', async () => {
  const token = await tokenFor(server!, 'gina', 'globex', 'admin');
  const stock = await openStream(`${server!.url}/events/company/globex?entities=stock`, { token });
  const trips = await openStream(`${server!.url}/events/company/globex?entities=trip`, { token });
  const pub = await openStream(`${server!.url}/events/public/globex?entities=stock`, {});
  await Promise.all([stock, trips, pub].map((s) => s.waitFor((f) => f.event === 'ready')));
  await db.sql`truncate checkouts, stock_items`;
  const frame = await stock.waitFor((f) => f.event === 'stock.truncated');
  expect(frame.json).toMatchObject({ entity: 'stock', op: 'truncate', companyId: null, row: {} });
  await pub.waitFor((f) => f.event === 'stock.truncated');
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('after-truncate', 'globex', 'T', '2026-12-24T08:00:00Z', 1, 1)`;
  await trips.waitFor((f) => f.json?.key === 'after-truncate');
  expect(trips.events().map((f) => f.event)).toEqual(['trip.created']);
  [stock, trips, pub].forEach((s) => s.close());
});

test("a row that moves to another company leaves the old company's streams and enters the new one's", async () => {
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values ('mover', 'acme', 'MV', 'x', 3)`;
  await caughtUp(server!, db.sql);
  const acme = await openStream(`${server!.url}/events/company/acme`, {
    token: await tokenFor(server!, 'alice', 'acme', 'admin'),
  });
  const globex = await openStream(`${server!.url}/events/company/globex`, {
    token: await tokenFor(server!, 'gina', 'globex', 'admin'),
  });
  await Promise.all([acme, globex].map((s) => s.waitFor((f) => f.event === 'ready')));
  await db.sql`update stock_items set company_id = 'globex', quantity = 4 where id = 'mover'`;
  const gone = await acme.waitFor((f) => f.json?.key === 'mover');
  const came = await globex.waitFor((f) => f.json?.key === 'mover');
  expect(gone.json).toMatchObject({ type: 'stock.deleted', companyId: 'acme', row: { companyId: 'acme', quantity: 3 } });
  expect(came.json).toMatchObject({ type: 'stock.created', companyId: 'globex', row: { companyId: 'globex', quantity: 4 } });
  expect(BigInt(came.id!)).toBe(BigInt(gone.id!) + 1n);
  [acme, globex].forEach((s) => s.close());
});

test('rows look exactly as the trigger path makes them, whatever their types', async () => {
  await db.sql`
    create table public.oddities (
      id text primary key, company_id text not null, n numeric, big bigint, f float8, b boolean, j jsonb, arr int[],
      tarr text[], ts timestamptz, d date, iv interval, u uuid, by bytea, txt text, nothing text, pt point
    )`;
  const insertRow = (id: string) => db.sql`
    insert into oddities values (${id}, 'acme', 12345678901234567890.123456789, 9007199254740993, 0.1, true,
      '{"a": [1, "two", {"three": null}], "b": 1.50}', '{1,2,NULL}', ${'{"a,b","c\\"d","e\\\\f",NULL,""}'},
      '2026-11-22 10:00:00.123456+05:30', '2026-02-28', '1 day 02:03:04', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      '\\xdeadbeef', ${'quote " backslash \\ comma , parens () braces {} newline \n tab \t ünïcødé'}, null, '(1.5,-2)')`;
  const rowOf = async (id: string, mode: 'trigger' | 'wal') => {
    if (mode === 'wal') await captured(db.sql); // a trigger writes the event at commit
    const [r] = await db.sql<
      { row: Record<string, unknown> }[]
    >`select row from pgfeed.events where key = ${id} and op = 'insert'`;
    const { id: _id, ...rest } = r!.row;
    return rest;
  };
  // The same row under each capture path (this database switches modes between them, the documented way).
  await server!.close();
  await db.sql`select pgfeed.set_capture('trigger')`;
  const trigger = await startService(db.url, { CAPTURE: 'trigger' });
  try {
    await db.sql`select pgfeed.watch('public.oddities')`;
    await insertRow('by-trigger');
    const byTrigger = await rowOf('by-trigger', 'trigger');
    await trigger.close();
    await db.sql`select pgfeed.set_capture('wal')`;
    server = await startService(db.url, { CAPTURE: 'wal' });
    await insertRow('by-wal');
    expect(await rowOf('by-wal', 'wal')).toEqual(byTrigger);
    expect(byTrigger).toMatchObject({ ts: '2026-11-22T04:30:00.123456+00:00', j: { b: 1.5 }, nothing: null });
  } finally {
    await trigger.close();
  }
});

test('an UPDATE that changes nothing is no event', async () => {
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values ('same', 'acme', 'SM', 'x', 1)`;
  await db.sql`update stock_items set quantity = 1 where id = 'same'`;
  await db.sql`update stock_items set quantity = 2 where id = 'same'`;
  await captured(db.sql);
  expect(await keysOf('same')).toEqual(['insert:same', 'update:same']);
});

test('a change that cannot be appended as it was at commit is skipped loudly; the ones after it are captured', async () => {
  // A domain tightened NOT VALID after the change committed: its value, read by the type it had, no longer
  // casts. Stopped with the change pending, so the capturer meets it after the DDL.
  await db.sql`create domain small_qty as int check (value < 100)`;
  await db.sql`create table parcels (id text primary key, company_id text not null, qty small_qty)`;
  await db.sql`select pgfeed.watch('public.parcels')`;
  await server!.close();
  await db.sql`insert into parcels values ('p-ok-1', 'acme', 1), ('p-5', 'acme', 5)`;
  await db.sql`insert into parcels values ('p-ok-2', 'acme', 2)`;
  await db.sql`alter domain small_qty add constraint not_five check (value <> 5) not valid`;
  await db.sql`insert into parcels values ('p-ok-3', 'acme', 3)`;
  server = await startService(db.url, { CAPTURE: 'wal' });
  await captured(db.sql);
  expect(await keysOf('p-%')).toEqual(['insert:p-ok-1', 'insert:p-ok-2', 'insert:p-ok-3']);
  expect(await metric(server, 'pgfeed_capture_skipped_total', { entity: 'public.parcels', reason: '23514' })).toBe(1);
  const readyz = (await (await fetch(`${server.url}/readyz`)).json()) as { skipped: unknown[] };
  expect(readyz.skipped).toEqual([
    expect.objectContaining({ path: 'capture', entity: 'public.parcels', reason: '23514', count: 1 }),
  ]);
});

test('a lost slot is re-created and logged, and every stream, live or resuming from before, gets a reset', async () => {
  const token = await tokenFor(server!, 'alice', 'acme', 'admin');
  const live = await openStream(`${server!.url}/events/company/acme`, { token });
  const ready = await live.waitFor((f) => f.event === 'ready');
  const [slot] = await db.sql<
    { slot_name: string }[]
  >`select slot_name from pg_replication_slots where database = current_database()`;
  // What a slot invalidated past max_slot_wal_keep_size also comes to: the capturer finds it gone (or lost).
  await db.sql`select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = ${slot!.slot_name} and active`;
  await eventually(
    async () => {
      try {
        await db.sql`select pg_drop_replication_slot(${slot!.slot_name})`;
        return true;
      } catch {
        return false;
      }
    },
    { what: 'dropping the slot' },
  );
  const reset = await live.waitFor((f) => f.event === 'reset', { timeoutMs: 15_000 });
  expect(reset.json).toMatchObject({ reason: 'capture_gap' });
  expect(reset.id).toBeDefined();
  await eventually(() => server!.status().capture.role === 'capturing', { what: 'capturing again' });
  const [again] = await db.sql<
    { n: number }[]
  >`select count(*)::int as n from pg_replication_slots where slot_name = ${slot!.slot_name}`;
  expect(again!.n).toBe(1);

  // Capture goes on after the reset, and a client resuming from before the gap is told too.
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values ('after-gap', 'acme', 'AG', 'x', 1)`;
  await live.waitFor((f) => f.json?.key === 'after-gap');
  const resumed = await openStream(`${server!.url}/events/company/acme`, { token, lastEventId: ready.json.lastEventId });
  await resumed.waitFor((f) => f.event === 'ready');
  expect(resumed.frames.filter((f) => f.event !== 'ready').map((f) => f.event)).toEqual(['reset', 'stock.created']);
  [live, resumed].forEach((s) => s.close());
});

test('pgfeed drop-slot removes the slot and the publication a removed pgfeed left behind, and says so', async () => {
  const other = await freshDatabase();
  try {
    await (await startService(other.url, { CAPTURE: 'wal' })).close();
    const leftovers = async () => ({
      slots: (await other.sql`select slot_name from pg_replication_slots where database = current_database()`).length,
      publications: (await other.sql`select pubname from pg_publication`).length,
    });
    expect(await leftovers()).toEqual({ slots: 1, publications: 1 });
    const dropSlot = () => finish(pgfeed(['drop-slot'], { DATABASE_URL: other.url }));
    const slot = defaultSlotName(other.url);
    expect(await dropSlot()).toEqual({
      code: 0,
      stdout: `dropped replication slot ${slot}; dropped publication pgfeed_capture\n`,
      stderr: '',
    });
    expect(await leftovers()).toEqual({ slots: 0, publications: 0 });
    expect(await dropSlot()).toEqual({ code: 0, stdout: `no replication slot ${slot}\n`, stderr: '' });
  } finally {
    await other.drop();
  }
}, 30_000);

test('a replication connection that goes silent (half-open) is given up within a few heartbeats, and capture resumes', async () => {
  const other = await freshDatabase();
  await seedTwoCompanies(other.sql);
  // Only the replication connection goes through the proxy: its freeze is the capturer's alone.
  const proxy = await startProxy(other.url);
  const svc = await startService(other.url, {
    CAPTURE: 'wal',
    CAPTURE_DATABASE_URL: proxy.url,
    CAPTURE_HEARTBEAT_MS: 300,
    CAPTURE_TAKEOVER_MS: 200,
  });
  try {
    await eventually(() => svc.status().capture.role === 'capturing', { what: 'capturing' });
    const stream = await openLiveStream(`${svc.url}/events/company/acme`, {
      token: await tokenFor(svc, 'alice', 'acme', 'admin'),
    });
    const write = tripWriter(other.sql, 'frozen');
    const [first] = await write(1);
    await stream.waitFor((f) => f.json?.key === first);
    // A quiet but healthy stream is left alone: ten heartbeat periods of silence change nothing.
    await new Promise((r) => setTimeout(r, 3000));
    expect(svc.status().capture.role).toBe('capturing');
    const [quiet] = await write(1);
    await stream.waitFor((f) => f.json?.key === quiet);
    proxy.freeze(); // TCP stays up, nothing flows either way: neither side is told
    const [during] = await write(1);
    await eventually(() => svc.status().capture.role !== 'capturing', { timeoutMs: 5000, what: 'the silent stream given up' });
    proxy.heal();
    await stream.waitFor((f) => f.json?.key === during, { timeoutMs: 15_000 });
    stream.close();
  } finally {
    await svc.close();
    await proxy.close();
    await other.drop();
  }
}, 40_000);
