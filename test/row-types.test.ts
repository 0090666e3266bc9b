/**
 * What a row's JSON holds for each PostgreSQL type (docs/api.md, "Row JSON"):
 * one column of each type, written in SQL, read from a stream event and from
 * a snapshot. The same on both capture paths (run with PGFEED_TEST_CAPTURE=wal too).
 */
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { startService, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;

beforeAll(async () => {
  db = await freshDatabase();
  await db.sql`create type mood as enum ('calm', 'busy')`;
  await db.sql`create domain money_amount as numeric(12, 2)`;
  await db.sql`create domain id_list as bigint[]`;
  await db.sql`create table every_type (
    id text primary key, company_id text not null,
    c_smallint smallint, c_integer integer, c_bigint bigint, c_numeric numeric, c_real real, c_double double precision,
    c_boolean boolean, c_text text, c_varchar varchar(10), c_uuid uuid, c_enum mood,
    c_date date, c_time time, c_timestamp timestamp, c_timestamptz timestamptz, c_interval interval,
    c_json json, c_jsonb jsonb, c_int_array integer[], c_text_array text[],
    c_bigint_array bigint[], c_numeric_array numeric[], c_bigint_matrix bigint[][], c_money_array money_amount[], c_id_list id_list,
    c_bytea bytea, c_inet inet, c_null text)`;
  await db.sql`select pgfeed.watch('every_type')`;
  server = await startService(db.url, {}, {});
}, 60_000);
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** The mapping docs/api.md documents, for the row written below. */
const EXPECTED = {
  id: 'r1',
  companyId: 'acme',
  cSmallint: 7,
  cInteger: -42,
  cBigint: '9007199254740993', // 2^53 + 1: PostgreSQL's exact text, a JSON string (docs/api.md)
  cNumeric: '12.50', // the exact text, scale kept
  cReal: 1.5,
  cDouble: 0.1,
  cBoolean: true,
  cText: 'naïve "quoted" text',
  cVarchar: 'short',
  cUuid: '6f1c1a52-3d43-4b1a-9f0e-0d1f2a3b4c5d',
  cEnum: 'busy',
  cDate: '2026-12-24',
  cTime: '08:30:00',
  cTimestamp: '2026-12-24T08:30:00.123456',
  cTimestamptz: '2026-12-24T06:30:00.123456+00:00',
  cInterval: '1 day 02:00:00',
  cJson: { a: [1, 'two'] },
  cJsonb: { nested: { ok: true } },
  cIntArray: [1, 2, 3],
  cTextArray: ['a', 'b c'],
  // Arrays of bigint and numeric (nested, or of a domain over them): arrays of their exact text.
  cBigintArray: ['9007199254740993', '-1', null],
  cNumericArray: ['12.50', 'NaN', '0.1'],
  cBigintMatrix: [
    ['1', '9007199254740993'],
    ['3', '-4'],
  ],
  cMoneyArray: ['7.00', '0.05'],
  cIdList: ['9223372036854775807'],
  cBytea: '\\x00ff',
  cInet: '192.168.0.1',
  cNull: null,
};

test('each PostgreSQL type reaches the row JSON of events and snapshots the same way', async () => {
  const admin = await tokenFor(server, 'alice', 'acme', 'admin');
  const stream = await openLiveStream(`${server.url}/events/company/acme?entities=every_type`, { token: admin });
  // Written by "another application", in its own time zone: rows are rendered in UTC whoever writes them.
  await db.sql.begin(async (tx) => {
    await tx`set local timezone = 'Europe/Helsinki'`;
    await tx`insert into every_type values (
      'r1', 'acme', 7, -42, 9007199254740993, 12.50, 1.5, 0.1, true, 'naïve "quoted" text', 'short',
      '6f1c1a52-3d43-4b1a-9f0e-0d1f2a3b4c5d', 'busy', '2026-12-24', '08:30', '2026-12-24 08:30:00.123456',
      '2026-12-24 08:30:00.123456+02', '1 day 2 hours', '{"a": [1, "two"]}', '{"nested": {"ok": true}}',
      '{1,2,3}', '{a,"b c"}', '{9007199254740993,-1,NULL}', '{12.50,NaN,0.1}', '{{1,9007199254740993},{3,-4}}',
      '{7,0.05}', '{9223372036854775807}', '\\x00ff', '192.168.0.1', null)`;
  });
  const event = await stream.waitFor((f) => f.event === 'every_type.created');
  stream.close();
  const res = await fetch(`${server.url}/snapshots/company/acme?entities=every_type`, {
    headers: { Authorization: `Bearer ${admin}` },
  });
  const snapshot = (await res.json()) as { items: { row: Record<string, unknown> }[] };
  expect(event.json.row).toEqual(EXPECTED);
  expect(snapshot.items[0]!.row).toEqual(event.json.row);
});

test('a column retyped to bigint, or a bigint column renamed, after watch() still gives the exact text', async () => {
  const admin = await tokenFor(server, 'alice', 'acme', 'admin');
  await db.sql`create table retyped (id text primary key, company_id text not null, n integer, big bigint)`;
  await db.sql`select pgfeed.watch('retyped')`;
  const stream = await openLiveStream(`${server.url}/events/company/acme?entities=retyped`, { token: admin });
  await db.sql`alter table retyped alter column n type bigint`;
  await db.sql`insert into retyped values ('x', 'acme', 9007199254740993, -9007199254740995)`;
  const retyped = await stream.waitFor((f) => f.event === 'retyped.created' && f.json.key === 'x');
  await db.sql`alter table retyped rename column big to huge`;
  await db.sql`insert into retyped values ('y', 'acme', 1, 9223372036854775807)`;
  const renamed = await stream.waitFor((f) => f.event === 'retyped.created' && f.json.key === 'y');
  stream.close();
  expect(retyped.json.row).toEqual({ id: 'x', companyId: 'acme', n: '9007199254740993', big: '-9007199254740995' });
  expect(renamed.json.row).toEqual({ id: 'y', companyId: 'acme', n: '1', huge: '9223372036854775807' });
});

test('an update of a numeric[] column carries its exact text in the row and in changes', async () => {
  const admin = await tokenFor(server, 'alice', 'acme', 'admin');
  await db.sql`create table ledger (id text primary key, company_id text not null, amounts numeric[])`;
  await db.sql`select pgfeed.watch('ledger')`;
  const stream = await openLiveStream(`${server.url}/events/company/acme?entities=ledger`, { token: admin });
  await db.sql`insert into ledger values ('l1', 'acme', '{1.10}')`;
  await db.sql`update ledger set amounts = '{1.10,9007199254740993.50}' where id = 'l1'`;
  const updated = await stream.waitFor((f) => f.event === 'ledger.updated');
  stream.close();
  expect(updated.json.row).toEqual({ id: 'l1', companyId: 'acme', amounts: ['1.10', '9007199254740993.50'] });
  expect(updated.json.changes).toEqual({ amounts: ['1.10', '9007199254740993.50'] });
});

test('column filters compare bigint and numeric values as numbers, exactly', async () => {
  const admin = await tokenFor(server, 'alice', 'acme', 'admin');
  const keys = async (where: string) => {
    const res = await fetch(`${server.url}/snapshots/company/acme?entities=every_type&${where}`, {
      headers: { Authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { items: { key: string }[] }).items.map((i) => i.key);
  };
  // r1 holds bigint 9007199254740993 (2^53 + 1) and numeric 12.50 (the first test wrote it).
  expect(await keys('where.cBigint=gt.9007199254740992')).toEqual(['r1']);
  expect(await keys('where.cBigint=gte.9007199254740994')).toEqual([]);
  expect(await keys('where.cBigint=in.(1,9007199254740993)')).toEqual(['r1']);
  expect(await keys('where.cNumeric=eq.12.5')).toEqual(['r1']);
  expect(await keys('where.cNumeric=lt.100')).toEqual(['r1']); // as strings "12.50" > "100"
  expect(await keys('where.cNumeric=gt.12.499999999999999999')).toEqual(['r1']);
  const bad = await fetch(`${server.url}/snapshots/company/acme?entities=every_type&where.cBigint=gt.many`, {
    headers: { Authorization: `Bearer ${admin}` },
  });
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ error: { code: 'invalid_query' } });
  // An array of them is a JSON array of strings: not a decimal, so not filterable.
  const array = await fetch(`${server.url}/snapshots/company/acme?entities=every_type&where.cBigintArray=eq.1`, {
    headers: { Authorization: `Bearer ${admin}` },
  });
  expect(array.status).toBe(400);
  expect(await array.json()).toMatchObject({ error: { code: 'invalid_query' } });
});
