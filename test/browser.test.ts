import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { listDomId, rowDomId } from '../src/streams/html';
import { newPage } from './support/browser';
import { eventually } from './support/eventually';
import { pageSuite } from './support/pages';
import { tokenFor } from './support/service';

// The pages as people use them, in a real Chromium: a cashier acts, a dashboard in another browser shows it.

// The README's pictures are refreshed on request (UPDATE_SCREENSHOTS=1 npx jest test/browser.test.ts);
// otherwise they go to a temporary directory, so a test run leaves the checkout as it found it.
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(__dirname, '..', 'docs', 'screenshots')
  : path.join(os.tmpdir(), 'pgfeed-screenshots');
const PHONE = { width: 390, height: 844 };

const suite = pageSuite({
  seed: async (sql) => {
    await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots) values
      ('bt1', 'acme', 'Lisbon → Porto', '2026-12-24T08:00:00Z', 48, 48),
      ('bt2', 'acme', 'Porto → Braga', '2026-12-24T10:30:00Z', 32, 2)`;
    await sql`insert into stock_items (id, company_id, sku, name, quantity, reserved) values
      ('helmet', 'acme', 'HELMET-M', 'Helmet (M)', 10, 1), ('lock', 'acme', 'LOCK-U', 'U-lock', 25, 0)`;
    await sql`insert into checkouts (id, company_id, user_id, item_id, checked_out_at, due_at) values
      ('late', 'acme', 'cora', 'helmet', now() - interval '9 days', now() - interval '2 days')`;
  },
});
beforeAll(() => mkdirSync(SCREENSHOTS, { recursive: true }));

const cell = (entity: string, key: string, col: string) => `#${rowDomId(entity, key)} [data-col="${col}"]`;
const item = (entity: string, key: string) => `#${listDomId(entity)} .item:has(> #${rowDomId(entity, key)})`;

/**
 * The pages under the strict Content-Security-Policy the service is deployed with (default-src 'self', no
 * 'unsafe-inline'); any violation is recorded on the page (`cspViolations`).
 */
async function strictCsp(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { cspViolations: string[] };
    w.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.route(/\/(dashboard|cashier)$/, async (route) => {
    const res = await route.fetch();
    await route.fulfill({ response: res, headers: { ...res.headers(), 'content-security-policy': "default-src 'self'" } });
  });
}

const violations = (page: Page) => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);

async function signIn(page: Page, path: string, sub: string, role: 'admin' | 'cashier'): Promise<void> {
  await page.goto(`${suite.server.url}${path}?access_token=${await tokenFor(suite.server, sub, 'acme', role)}`);
  await live(page);
}

/** Loads the page again, as routes do not see the request a redirect makes. */
async function reload(page: Page): Promise<void> {
  await page.reload();
  await live(page);
}

/** Waits until the page's badge says it is live. */
function live(page: Page): Promise<unknown> {
  return page.waitForSelector('#live[data-state="live"]');
}

/** How far the page scrolls sideways, and the values and controls that lie outside the screen's width. */
function offScreen(page: Page): Promise<{ scroll: number; outside: string[] }> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const outside = Array.from(document.querySelectorAll('.cell, .tag, button, input, select, h1, h2'))
      .filter((el) => (el as HTMLElement).offsetParent !== null)
      .filter((el) => {
        const box = el.getBoundingClientRect();
        return box.left < 0 || box.right > width + 0.5;
      })
      .map((el) => el.outerHTML.slice(0, 80));
    return { scroll: document.documentElement.scrollWidth - width, outside };
  });
}

/** The whole page from its top (the sticky top bar would otherwise sit mid-image). */
async function screenshot(page: Page, name: string): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: true });
}

function textOf(page: Page, selector: string): Promise<string | null> {
  return page.textContent(selector);
}

/** Resolves with the milliseconds until `selector`'s text on `page` starts with `prefix`. */
async function shows(page: Page, selector: string, prefix: string, since: number): Promise<number> {
  await page.waitForFunction(([sel, want]) => document.querySelector(sel!)?.textContent?.startsWith(want!), [selector, prefix], {
    polling: 'raf',
  });
  return Date.now() - since;
}

test('a sale on the cashier page shows on the dashboard within a second, with the route, newest first', async () => {
  const dashboard = await newPage(suite.browser);
  await strictCsp(dashboard);
  await signIn(dashboard, '/dashboard', 'alice', 'admin');
  expect(new URL(dashboard.url()).search).toBe(''); // the token left the address bar
  await reload(dashboard);
  const cashier = await newPage(suite.browser);
  await strictCsp(cashier);
  await signIn(cashier, '/cashier', 'carl', 'cashier');
  await reload(cashier);

  // The dashboard reads at a glance: route, seats left of capacity, local time with its zone, counts, overdue.
  expect(await textOf(dashboard, cell('trip', 'bt1', 'seats left'))).toBe('48 of 48');
  expect(await textOf(dashboard, cell('trip', 'bt1', 'departs'))).toMatch(/\b(UTC|GMT)/);
  expect(await textOf(dashboard, cell('stock', 'helmet', 'available'))).toBe('9');
  expect(await textOf(dashboard, cell('checkout', 'late', 'item'))).toBe('Helmet (M)');
  expect(await textOf(dashboard, cell('checkout', 'late', 'who'))).toBe('Cora');
  expect(await dashboard.getAttribute(`#${rowDomId('checkout', 'late')}`, 'class')).toContain('overdue');
  expect(await textOf(dashboard, '[data-count="list-checkout"]')).toBe('1');
  expect(await textOf(dashboard, '[data-count="list-trip"]')).toBe('2');

  await cashier.fill(`${item('trip', 'bt1')} input[name="seats"]`, '2');
  const clicked = Date.now();
  await cashier.click(`${item('trip', 'bt1')} button[data-act="sell"]`);
  const ms = await shows(dashboard, cell('trip', 'bt1', 'seats left'), '46 of 48', clicked);
  expect(ms).toBeLessThan(1000);
  // What it changed from, for a moment; the booking first in the list, by route.
  expect(await dashboard.getAttribute(cell('trip', 'bt1', 'seats left'), 'data-was')).toBe('48 of 48');
  await dashboard.waitForFunction(
    () => document.querySelector('#list-booking .row [data-col="route"]')?.textContent === 'Lisbon → Porto',
  );
  expect(await textOf(dashboard, '#list-booking .row:first-child [data-col="seats"]')).toBe('2');
  expect(await textOf(dashboard, '[data-count="list-booking"]')).toBe('1');
  expect(await textOf(cashier, `${item('trip', 'bt1')} .msg`)).toBe('Sold 2 seats.');

  // Refusals are said next to the control that caused them, in words.
  await cashier.fill(`${item('trip', 'bt2')} input[name="seats"]`, '3');
  await cashier.click(`${item('trip', 'bt2')} button[data-act="sell"]`);
  await cashier.waitForSelector(`${item('trip', 'bt2')} .msg[data-ok="no"]`);
  expect(await textOf(cashier, `${item('trip', 'bt2')} .msg`)).toBe('Not sold: only 2 seats are available.');

  // The other desk jobs: cancel, check out and in, adjust stock; each lands on the dashboard.
  const booking = await cashier.getAttribute('#list-booking .row', 'data-key');
  await cashier.click(`${item('booking', booking!)} button[data-act="cancel"]`);
  await shows(dashboard, cell('trip', 'bt1', 'seats left'), '48 of 48', Date.now());
  expect(await textOf(dashboard, cell('booking', booking!, 'status'))).toBe('cancelled');
  expect(await cashier.isVisible(`${item('booking', booking!)} button[data-act="cancel"]`)).toBe(false);

  await cashier.selectOption(`${item('stock', 'lock')} select[name="customer"]`, 'cody');
  await cashier.click(`${item('stock', 'lock')} button[data-act="checkout"]`);
  await shows(dashboard, cell('stock', 'lock', 'available'), '24', Date.now());
  await dashboard.waitForFunction(() => document.querySelector('#list-checkout .row [data-col="who"]')?.textContent === 'Cody');
  expect(await textOf(dashboard, '[data-count="list-checkout"]')).toBe('2');
  const checkout = await cashier.getAttribute('#list-checkout .row', 'data-key');
  await cashier.click(`${item('checkout', checkout!)} button[data-act="return"]`);
  await shows(dashboard, cell('checkout', checkout!, 'status'), 'returned', Date.now());
  expect(await textOf(dashboard, cell('stock', 'lock', 'available'))).toBe('25');

  await cashier.fill(`${item('stock', 'helmet')} input[name="units"]`, '20');
  await cashier.click(`${item('stock', 'helmet')} button[data-act="remove"]`);
  await cashier.waitForSelector(`${item('stock', 'helmet')} .msg[data-ok="no"]`);
  expect(await textOf(cashier, `${item('stock', 'helmet')} .msg`)).toBe(
    'Not removed: quantity would go below the reserved units.',
  );
  await cashier.fill(`${item('stock', 'helmet')} input[name="units"]`, '5');
  await cashier.click(`${item('stock', 'helmet')} button[data-act="add"]`);
  await shows(dashboard, cell('stock', 'helmet', 'quantity'), '15', Date.now());

  expect(await violations(dashboard)).toEqual([]);
  expect(await violations(cashier)).toEqual([]);
  await screenshot(dashboard, 'dashboard-desktop.png');
  await screenshot(cashier, 'cashier-desktop.png');
});

test('on a 390 px phone every value is on screen and a real tap on Sell lands on the dashboard within a second', async () => {
  const dashboard = await newPage(suite.browser);
  await signIn(dashboard, '/dashboard', 'alice', 'admin');
  const phone = await newPage(suite.browser, PHONE, { hasTouch: true, isMobile: true, deviceScaleFactor: 2 });
  await signIn(phone, '/cashier', 'carl', 'cashier');

  expect(await offScreen(phone)).toEqual({ scroll: 0, outside: [] });

  const before = (await textOf(dashboard, cell('trip', 'bt1', 'seats left')))!;
  const left = Number(/^\d+/.exec(before)![0]);
  const sell = phone.locator(`${item('trip', 'bt1')} button[data-act="sell"]`);
  await sell.scrollIntoViewIfNeeded(); // the page scrolls vertically, as a thumb would
  const box = (await sell.boundingBox())!;
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
  const tapped = Date.now();
  await phone.touchscreen.tap(box.x + box.width / 2, box.y + box.height / 2);
  const ms = await shows(dashboard, cell('trip', 'bt1', 'seats left'), `${left - 1} of 48`, tapped);
  expect(ms).toBeLessThan(1000);
  await phone.waitForFunction(
    (sel) => document.querySelector(sel)?.textContent === 'Sold 1 seat.',
    `${item('trip', 'bt1')} .msg`,
  );

  await screenshot(phone, 'cashier-phone.png');
  await phone.goto(`${suite.server.url}/dashboard`);
  await live(phone);
  expect(await offScreen(phone)).toEqual({ scroll: 0, outside: [] });
  await screenshot(phone, 'dashboard-phone.png');
  await phone.goto(`${suite.server.url}/public/acme`);
  await live(phone);
  expect(await offScreen(phone)).toEqual({ scroll: 0, outside: [] });
});

test('seven dashboard tabs share one stream, all get live changes, and another tab takes over when its holder closes', async () => {
  const first = await newPage(suite.browser);
  await signIn(first, '/dashboard', 'alice', 'admin');
  const tabs = [first];
  for (let i = 1; i < 7; i++) {
    const tab = await first.context().newPage();
    await tab.goto(`${suite.server.url}/dashboard`);
    tabs.push(tab);
  }
  await Promise.all(tabs.map(live));
  // One stream for seven tabs (followers' one-off catch-up streams have closed).
  await eventually(() => suite.server.status().streams === 1, { what: 'one shared stream' });

  await suite.db.sql`update trips set available_slots = 30 where id = 'bt2'`;
  await Promise.all(tabs.map((tab) => shows(tab, cell('trip', 'bt2', 'seats left'), '30 of 32', 0)));

  // Close the holder (the first tab took the lock), then change at once: the new holder resumes from its position.
  await first.close();
  await suite.db.sql`update trips set available_slots = 29 where id = 'bt2'`;
  await Promise.all(tabs.slice(1).map((tab) => shows(tab, cell('trip', 'bt2', 'seats left'), '29 of 32', 0)));
  await eventually(() => suite.server.status().streams === 1, { what: 'one shared stream again' });
});

test('a form on a sister site (another port) that posts with the cookie is refused; nothing changes', async () => {
  await suite.db
    .sql`insert into bookings (id, trip_id, company_id, seats, channel) values ('target', 'bt1', 'acme', 1, 'online')`;
  const page = await newPage(suite.browser);
  await signIn(page, '/cashier', 'carl', 'cashier');
  // The sister site: same host, another port (cookies ignore ports, so SameSite=Lax sends the cookie).
  const sister = `http://127.0.0.1:${suite.server.port === 65535 ? 1 : suite.server.port + 1}`;
  await page.route(`${sister}/**`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<form method="post" action="${suite.server.url}/api/bookings/target/cancel"><button>Win a prize</button></form>`,
    }),
  );
  await page.goto(`${sister}/prize`);
  const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/cancel')), page.click('button')]);
  expect((await response.request().allHeaders()).cookie).toMatch(/pgfeed_token=/); // the browser did send it
  expect(response.status()).toBe(403);
  expect(await response.json()).toMatchObject({ error: { code: 'cross_origin' } });
  const [row] = await suite.db.sql<{ status: string }[]>`select status from bookings where id = 'target'`;
  expect(row?.status).toBe('confirmed');
});
