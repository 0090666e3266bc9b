import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies } from './support/fixtures';
import { launchBrowser, newPage } from './support/browser';
import { startService, tokenFor } from './support/service';
import { listDomId, rowDomId } from '../src/streams/html';
import { eventually } from './support/eventually';

let db: TestDatabase;
let server: Pgfeed;
let browser: Browser;

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('bt1', 'acme', 'Lisbon → Porto', '2026-12-24T08:00:00Z', 48, 48)`;
  server = await startService(db.url);
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await db?.drop();
});

const available = (trip: string) => `#${rowDomId('trip', trip)} [data-col="available"]`;

test("a cashier's sale appears on the admin dashboard at once, and so does a change made in psql", async () => {
  const dashboard = await newPage(browser);
  await dashboard.goto(`${server.url}/dashboard?access_token=${await tokenFor(server, 'alice', 'acme', 'admin')}`);
  expect(new URL(dashboard.url()).search).toBe(''); // the token left the address bar
  await dashboard.waitForSelector(available('bt1'));
  expect(await dashboard.textContent(available('bt1'))).toBe('48');

  // A second context: the cashier has a cookie of their own.
  const cashier = await newPage(browser);
  await cashier.goto(`${server.url}/cashier?access_token=${await tokenFor(server, 'carl', 'acme', 'cashier')}`);
  // Wait until both pages' streams are live before acting.
  await Promise.all([dashboard, cashier].map((p) => p.waitForFunction(() => (window as any).htmx !== undefined)));
  await eventually(() => server.status().streams >= 2, { what: 'both pages streaming' });

  await cashier.click('button[data-sell="bt1"]');
  await cashier.waitForFunction(() => document.getElementById('sale-result')?.textContent?.startsWith('Sold'));
  await dashboard.waitForFunction((sel) => document.querySelector(sel)?.textContent === '47', available('bt1'));
  await dashboard.waitForSelector(`#${listDomId('booking')} .row.booking`);
  expect(await cashier.textContent(available('bt1'))).toBe('47');

  await db.sql`update trips set available_slots = 40 where id = 'bt1'`;
  await dashboard.waitForFunction((sel) => document.querySelector(sel)?.textContent === '40', available('bt1'));

  await dashboard.screenshot({ path: path.join(os.tmpdir(), 'pgfeed-dashboard.png'), fullPage: true });
  await dashboard.context().close();
  await cashier.context().close();
});
