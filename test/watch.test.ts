/**
 * A table streamed without TypeScript: `pgfeed watch <table> --company-column …
 * --user-column … --public-columns …`, then its streams and snapshots in each
 * scope, its public projection (nothing else ever leaves), its place in the
 * API descriptions, `pgfeed watches` and `pgfeed unwatch`.
 */
import type { Pgfeed } from '../src/service';
import { finish, pgfeed } from './support/cli';
import { freshDatabase, type TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { type FaultyProxy, startProxy } from './support/proxy';
import { captured, caughtUp, listenerState, metric, startService, tokenFor } from './support/service';
import { getJson, snapshotPage } from './support/snapshots';
import { openLiveStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;
/** In the listener's route only (the pool connects directly), to cut it. */
let listenerProxy: FaultyProxy;
const get = (path: string, token?: string) => getJson(server, path, token);
const page = (path: string, token?: string) => snapshotPage(server, path, token);

const cli = (...args: string[]) => finish(pgfeed(args, { DATABASE_URL: db.url }));
/** `pgfeed watch shop.orders` with its scope columns and these public columns. */
const watchOrders = (publicColumns: string) =>
  cli('watch', 'shop.orders', '--company-column', 'tenant', '--user-column', 'customer', '--public-columns', publicColumns);

beforeAll(async () => {
  db = await freshDatabase();
  await db.sql`create schema shop`;
  await db.sql`create table shop.orders (
    id text primary key, tenant text not null, customer text, status text not null, total int not null,
    secret text, placed_at timestamptz not null default '2026-12-01T10:00:00Z')`;
  await db.sql`insert into shop.orders (id, tenant, customer, status, total, secret) values
    ('o1', 't1', 'ann', 'open', 10, 's-1'), ('o2', 't1', 'bob', 'paid', 25, 's-2'),
    ('o3', 't1', 'ann', 'paid', 40, 's-3'), ('o4', 't2', 'cat', 'open', 5, 's-4')`;
}, 60_000);
afterAll(async () => {
  await server?.close();
  await listenerProxy?.close();
  await db?.drop();
});

test('pgfeed watch declares a table with its scope and public columns; watches and watch --list show it', async () => {
  const watched = await watchOrders('id, status,placed_at');
  expect(watched).toEqual({
    code: 0,
    stdout: 'watching shop.orders as orders (company: tenant, user: customer, key: id, public: id, placed_at, status)\n',
    stderr: '',
  });
  const listed = 'shop.orders as orders (company: tenant, user: customer, key: id, public: id, placed_at, status)\n';
  expect(await cli('watches')).toEqual({ code: 0, stdout: listed, stderr: '' });
  expect(await cli('watch', '--list')).toEqual({ code: 0, stdout: listed, stderr: '' });

  // Mistakes: one line, nothing changed.
  const missing = await cli('watch', 'shop.nothing');
  expect([missing.code, missing.stderr]).toEqual([1, 'pgfeed watch failed: relation "shop.nothing" does not exist\n']);
  const badColumn = await cli('watch', 'shop.orders', '--company-column', 'tenant', '--public-columns', 'id,nope');
  expect(badColumn.code).toBe(1);
  expect(badColumn.stderr).toMatch(/^pgfeed watch failed: .*has no column "nope"\n$/);
  const noTable = await cli('watch');
  expect([noTable.code, noTable.stderr]).toEqual([
    2,
    'pgfeed watch: which table? pgfeed watch <table> (see pgfeed watch --help)\n',
  ]);
  expect(await cli('watches')).toEqual({ code: 0, stdout: listed, stderr: '' });

  // pgfeed alone: no registered entity, only what was watched. Its fallback poll is an hour away, so what
  // it learns of the catalog below came through the NOTIFY pgfeed.watch() sends, or its listener's reconnect.
  listenerProxy = await startProxy(db.url);
  server = await startService(db.url, { CATALOG_POLL_MS: 3_600_000, LISTENER_DATABASE_URL: listenerProxy.url }, {});
}, 60_000);

test('snapshots of a watched table in each scope, with filters; the public one shows only the public columns', async () => {
  const admin = await tokenFor(server, 'boss', 't1', 'admin');
  const company = await page('/snapshots/company/t1', admin);
  expect(company.items.map((i) => [i.entity, i.key, i.userId])).toEqual([
    ['orders', 'o1', 'ann'],
    ['orders', 'o2', 'bob'],
    ['orders', 'o3', 'ann'],
  ]);
  expect(company.items[0]!.row).toEqual({
    id: 'o1',
    tenant: 't1',
    customer: 'ann',
    status: 'open',
    total: 10,
    secret: 's-1',
    placedAt: '2026-12-01T10:00:00+00:00',
  });
  const paid = await page('/snapshots/company/t1?where.status=eq.paid&where.total=lt.30', admin);
  expect(paid.items.map((i) => i.key)).toEqual(['o2']);

  const ann = await page('/snapshots/user', await tokenFor(server, 'ann', 't1', 'customer'));
  expect(ann.items.map((i) => i.key)).toEqual(['o1', 'o3']);

  const pub = await page('/snapshots/public/t1?where.status=eq.paid');
  expect(pub.items).toEqual([
    {
      entity: 'orders',
      key: 'o2',
      companyId: 't1',
      userId: null,
      row: { id: 'o2', status: 'paid', placedAt: '2026-12-01T10:00:00+00:00' },
    },
    {
      entity: 'orders',
      key: 'o3',
      companyId: 't1',
      userId: null,
      row: { id: 'o3', status: 'paid', placedAt: '2026-12-01T10:00:00+00:00' },
    },
  ]);
  // A filter on a column the public may not see is refused, on snapshots and streams alike.
  for (const path of ['/snapshots/public/t1?where.secret=eq.s-2', '/events/public/t1?where.total=gt.1']) {
    const { status, body } = await get(path);
    expect([status, body.error.code]).toEqual([400, 'invalid_query']);
    expect(body.error.message).toContain('public projection of orders');
  }
});

test('a change committed between two pages is delivered once (page lastEventId contract)', async () => {
  const admin = await tokenFor(server, 'boss', 't1', 'admin');
  const first = await page('/snapshots/company/t1?limit=2', admin);
  expect(first.items.map((i) => i.key)).toEqual(['o1', 'o2']);
  await db.sql`update shop.orders set total = 11 where id = 'o1'`; // in page 1's range, after it was read
  await db.sql`update shop.orders set total = 41 where id = 'o3'`; // in page 2's range, before it is read
  await caughtUp(server, db.sql);
  const second = await page(`/snapshots/company/t1?limit=2&after=${first.next!}`, admin);
  expect([second.items.map((i) => [i.key, i.row.total]), second.next]).toEqual([[['o3', 41]], null]);

  const stream = await openLiveStream(`${server.url}/events/company/t1`, { token: admin, lastEventId: first.lastEventId });
  stream.close();
  const events = stream.events().map((f) => f.json);
  expect(events.map((e) => [e.key, e.row.total])).toEqual([
    ['o1', 11],
    ['o3', 41],
  ]);
  // Page 2 reflects o3's change (at or below its lastEventId): only o1's is new to the client.
  const fresh = events.filter(
    (e) => BigInt(e.id) > BigInt(e.key <= first.items.at(-1)!.key ? first.lastEventId : second.lastEventId),
  );
  expect(fresh.map((e) => e.key)).toEqual(['o1']);
});

test('public streams carry only the public columns; an update that leaves a filter passes; narrowing them applies to running streams', async () => {
  const pub = await openLiveStream(`${server.url}/events/public/t1?where.status=eq.open`);
  await db.sql`update shop.orders set status = 'paid', secret = 'changed' where id = 'o1'`; // leaves the filter
  await db.sql`update shop.orders set total = 99 where id = 'o2'`; // not in the filter, filtered column unchanged
  await db.sql`insert into shop.orders (id, tenant, customer, status, total, secret) values ('o5', 't1', 'bob', 'open', 1, 'hidden')`;
  await pub.waitFor((f) => f.json?.key === 'o5');
  expect(pub.events().map((f) => [f.event, f.json])).toEqual([
    [
      'orders.updated',
      expect.objectContaining({
        key: 'o1',
        userId: null,
        row: { id: 'o1', status: 'paid', placedAt: expect.any(String) },
        changes: { status: 'paid' },
      }),
    ],
    [
      'orders.created',
      expect.objectContaining({ key: 'o5', userId: null, row: { id: 'o5', status: 'open', placedAt: expect.any(String) } }),
    ],
  ]);
  expect(pub.text()).not.toContain('hidden');
  expect(pub.text()).not.toContain('changed');

  // The operator narrows the projection while the stream is open: within the catalog's refresh, nothing shows placed_at.
  expect((await watchOrders('id,status')).code).toBe(0);
  await eventually(async () => Object.keys((await page('/snapshots/public/t1?keys=o5')).items[0]!.row).join() === 'id,status', {
    what: 'the narrowed projection',
  });
  await db.sql`update shop.orders set placed_at = '2026-12-02T00:00:00Z' where id = 'o5'`;
  await db.sql`update shop.orders set status = 'paid' where id = 'o5'`;
  const last = await pub.waitFor((f) => f.json?.key === 'o5' && f.json.row.status === 'paid');
  expect(last.json.row).toEqual({ id: 'o5', status: 'paid' });
  expect(pub.text()).not.toContain('2026-12-02');
  pub.close();

  // Private again: public snapshots and streams of it are refused as for any non-public entity.
  expect((await watchOrders('')).code).toBe(0);
  await eventually(async () => (await get('/snapshots/public/t1?entities=orders')).status === 400, { what: 'orders private' });
  expect((await page('/snapshots/public/t1')).items).toEqual([]);
});

/** Reads of the catalog the server made for `reason` (pgfeed_catalog_reads_total). */
const catalogReads = (reason: string) => metric(server, 'pgfeed_catalog_reads_total', { reason });
/** A table of shop, watched with public columns id and reason. */
async function watchNew(table: string) {
  await db.sql`create table ${db.sql('shop')}.${db.sql(table)} (id text primary key, tenant text not null, reason text not null)`;
  const watched = await cli('watch', `shop.${table}`, '--company-column', 'tenant', '--public-columns', 'id,reason');
  expect(watched.code).toBe(0);
}
/** A public stream of `entity` opens, carries a row written now, and a public snapshot shows it. */
async function streamsPublicly(entity: string) {
  const pub = await openLiveStream(`${server.url}/events/public/t1?entities=${entity}`);
  await db.sql`insert into ${db.sql('shop')}.${db.sql(entity)} values ('r1', 't1', 'broken')`;
  const created = await pub.waitFor((f) => f.event === `${entity}.created`);
  pub.close();
  expect(created.json.row).toEqual({ id: 'r1', reason: 'broken' });
  expect((await page(`/snapshots/public/t1?entities=${entity}`)).items.map((i) => i.row)).toEqual([
    { id: 'r1', reason: 'broken' },
  ]);
}
/** Public streams refuse `entity` (a public request never reads the catalog: only what it holds counts). */
const publiclyRefused = async (entity: string) => (await get(`/snapshots/public/t1?entities=${entity}`)).status === 400;

test('pgfeed watch of a new table reaches a running instance through its NOTIFY, not a poll: it streams at once; unwatch alike', async () => {
  const notified = await catalogReads('notify');
  expect(await publiclyRefused('returns')).toBe(true);
  await watchNew('returns');
  await eventually(async () => !(await publiclyRefused('returns')), { what: 'the public returns stream' });
  expect(await catalogReads('notify')).toBeGreaterThan(notified);
  expect(await catalogReads('poll')).toBe(0);
  await streamsPublicly('returns');

  expect((await cli('unwatch', 'shop.returns')).code).toBe(0);
  await eventually(() => publiclyRefused('returns'), { what: 'returns unwatched' });
  expect(await catalogReads('poll')).toBe(0);
});

test('a table watched while the listener is away (its NOTIFY lost) is read when the listener reconnects', async () => {
  const listened = await catalogReads('listen');
  const down = listenerState(server, 'connecting');
  listenerProxy.cut();
  await down;
  await watchNew('refunds'); // notified while nobody of this instance listens
  const up = listenerState(server, 'live');
  listenerProxy.heal();
  await up;
  await eventually(async () => !(await publiclyRefused('refunds')), { what: 'the public refunds stream' });
  expect(await catalogReads('listen')).toBeGreaterThan(listened);
  expect(await catalogReads('poll')).toBe(0);
  await streamsPublicly('refunds');
  expect((await cli('unwatch', 'shop.refunds')).code).toBe(0);
});

test('the watched table has a place in /openapi.json and /asyncapi.json', async () => {
  const openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as any;
  expect(openapi.components.schemas['row.orders'].properties.total).toEqual(expect.objectContaining({ description: 'integer' }));
  expect(openapi.paths['/snapshots/company/{companyId}'].get.parameters.map((p: { name: string }) => p.name)).toContain(
    'where.<column>',
  );
  const asyncapi = (await (await fetch(`${server.url}/asyncapi.json`)).json()) as any;
  expect(Object.keys(asyncapi.channels.company.messages)).toEqual(
    expect.arrayContaining(['orders.created', 'orders.updated', 'orders.deleted']),
  );
  expect(Object.keys(asyncapi.components.messages['orders.updated'].payload.properties.row.properties)).toEqual([
    'id',
    'tenant',
    'customer',
    'status',
    'total',
    'secret',
    'placedAt',
  ]);
});

test('pgfeed unwatch stops the events and forgets the public columns', async () => {
  expect(await cli('unwatch', 'shop.orders')).toEqual({ code: 0, stdout: 'stopped watching shop.orders\n', stderr: '' });
  expect(await cli('watches')).toEqual({ code: 0, stdout: 'no watched tables\n', stderr: '' });
  const again = await cli('unwatch', 'shop.orders');
  expect([again.code, again.stderr]).toEqual([1, 'pgfeed unwatch: shop.orders is not watched\n']);
  await captured(db.sql);
  const [before] = await db.sql<{ n: number }[]>`select count(*)::int as n from pgfeed.events`;
  await db.sql`update shop.orders set total = total + 1`;
  await captured(db.sql);
  const [after] = await db.sql<{ n: number }[]>`select count(*)::int as n from pgfeed.events`;
  expect(after!.n).toBe(before!.n);
  const [projection] = await db.sql<{ n: number }[]>`select count(*)::int as n from pgfeed.watch_public`;
  expect(projection!.n).toBe(0);
});
