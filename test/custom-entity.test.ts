/**
 * pgfeed on tables it has never seen: an application registers its own
 * entity and gets company, user and public streams for it, as JSON and HTML,
 * with no core file changed. And pgfeed alone creates nothing outside its schema.
 */
import { z } from 'zod';
import { defineEntity, startPgfeed } from '../src/index';
import type { Pgfeed } from '../src/service';
import { type TestDatabase, emptyDatabase } from './support/db';
import { outsideSchemaPgfeed } from './support/fixtures';
import { startService, TEST_CAPTURE, TEST_JWT_SECRET, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';
import { rowDomId } from '../src/streams/html';

const invoice = defineEntity({
  name: 'invoice',
  table: 'billing.invoices',
  keyColumn: 'number',
  companyColumn: 'tenant',
  userColumn: 'customer',
  row: z.looseObject({
    number: z.string(),
    tenant: z.string(),
    customer: z.string(),
    amountCents: z.number().int(),
    paid: z.boolean(),
  }),
  public: { project: (r) => ({ number: r.number, paid: r.paid }) },
  cells: (r) => [
    ['invoice', r.number],
    ['paid', r.paid ? 'yes' : 'no'],
  ],
});

let db: TestDatabase;
let server: Pgfeed;

beforeAll(async () => {
  db = await emptyDatabase();
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

test('pgfeed without entities creates nothing outside its own schema', async () => {
  const bare = await startPgfeed({
    databaseUrl: db.url,
    config: { PORT: 0, HOST: '127.0.0.1', LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, CAPTURE: TEST_CAPTURE },
  });
  await bare.close();
  expect(await outsideSchemaPgfeed(db.sql)).toEqual([]);
  const [schemas] = await db.sql<{ n: number }[]>`select count(*)::int as n from pg_namespace where nspname = 'pgfeed'`;
  expect(schemas?.n).toBe(1);
});

test('a registered entity on its own table streams to company, user and public scopes, as JSON and HTML', async () => {
  await db.sql`create schema billing`;
  await db.sql`create table billing.invoices (
    number text primary key, tenant text not null, customer text not null, amount_cents int not null, paid boolean not null default false)`;
  server = await startService(db.url, {}, { entities: [invoice] });
  const admin = await tokenFor(server, 'ann', 't1', 'admin');
  const company = await openLiveStream(`${server.url}/events/company/t1?entities=invoice`, { token: admin });
  const html = await openLiveStream(`${server.url}/events/company/t1?format=html`, { token: admin });
  const mine = await openLiveStream(`${server.url}/events/user`, { token: await tokenFor(server, 'cid', 't1', 'customer') });
  const anyone = await openLiveStream(`${server.url}/events/public/t1`);
  const otherTenant = await openLiveStream(`${server.url}/events/company/t2`, {
    token: await tokenFor(server, 'bo', 't2', 'admin'),
  });

  // Written as another application would: plain SQL.
  await db.sql`insert into billing.invoices (number, tenant, customer, amount_cents) values ('INV-1', 't1', 'cid', 1250)`;
  await db.sql`insert into billing.invoices (number, tenant, customer, amount_cents) values ('INV-2', 't1', 'dee', 99)`;
  await db.sql`update billing.invoices set paid = true where number = 'INV-1'`;
  await db.sql`insert into billing.invoices (number, tenant, customer, amount_cents) values ('INV-3', 't2', 'eve', 5)`;

  await company.waitFor((f) => f.event === 'invoice.updated');
  expect(company.events().map((f) => [f.event, f.json.key])).toEqual([
    ['invoice.created', 'INV-1'],
    ['invoice.created', 'INV-2'],
    ['invoice.updated', 'INV-1'],
  ]);
  expect(company.events()[0]?.json).toMatchObject({
    entity: 'invoice',
    companyId: 't1',
    userId: 'cid',
    row: { number: 'INV-1', tenant: 't1', customer: 'cid', amountCents: 1250, paid: false },
  });
  expect(company.events()[2]?.json.changes).toEqual({ paid: true });

  await mine.waitFor((f) => f.event === 'invoice.updated');
  expect(mine.events().map((f) => f.json.key)).toEqual(['INV-1', 'INV-1']);

  await anyone.waitFor((f) => f.event === 'invoice.updated');
  expect(anyone.events().map((f) => f.json.row)).toEqual([
    { number: 'INV-1', paid: false },
    { number: 'INV-2', paid: false },
    { number: 'INV-1', paid: true },
  ]);
  expect(anyone.events().every((f) => f.json.userId === null)).toBe(true);
  expect(anyone.events()[2]?.json.changes).toEqual({ paid: true });

  await html.waitFor((f) => f.event === 'invoice.updated');
  const updated = html.events().at(-1)!.data;
  expect(updated).toContain(`id="${rowDomId('invoice', 'INV-1')}"`);
  expect(updated).toContain('<span class="cell" data-col="paid">yes</span>');

  await otherTenant.waitFor((f) => f.event === 'invoice.created');
  expect(otherTenant.events().map((f) => f.json.key)).toEqual(['INV-3']);

  // Names the application did not register are refused, also on the public stream.
  expect(
    (await fetch(`${server.url}/events/company/t1?entities=trip`, { headers: { Authorization: `Bearer ${admin}` } })).status,
  ).toBe(400);
  for (const s of [company, html, mine, anyone, otherTenant]) s.close();
});
