import type { Page } from 'playwright-core';
import { listDomId, rowDomId } from '../src/streams/html';
import { eventually } from './support/eventually';
import { FAST, badge, openDashboard, pageSuite } from './support/pages';
import { startService } from './support/service';

// The badge never lies: the server going away, a hidden tab, a stream a proxy blocks.
const suite = pageSuite({
  seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                     values ('c1', 'acme', 'Lisbon → Porto', '2026-12-24T08:00:00Z', 48, 48)`,
});

const seats = `#${rowDomId('trip', 'c1')} [data-col="seats left"]`;

const dashboard = () => openDashboard(suite, { tuning: FAST });
const showsSeats = (page: Page, left: number) =>
  page.waitForFunction(([sel, want]) => document.querySelector(sel!)?.textContent === want, [seats, `${left} of 48`]);
/** How many rows of `entity` with `key` the page shows (a change applied twice would show twice). */
const rowsOf = (page: Page, entity: string, key: string) => page.locator(`#${listDomId(entity)} [data-key="${key}"]`).count();

test('stopping the service turns the badge to reconnecting; restarting it on the same port turns it live with nothing missed', async () => {
  const page = await dashboard();
  await badge(page, 'live');
  const port = suite.server.port;
  await suite.server.close();
  await badge(page, 'reconnecting');
  expect(await page.textContent('#live .state')).toMatch(/^reconnecting/);
  try {
    // Stale data looks stale (the lists fade out over 0.3 s).
    await page.waitForFunction(() => Number(getComputedStyle(document.querySelector('.list')!).opacity) < 1);

    // Changes while the service is down.
    await suite.db.sql`update trips set available_slots = 40 where id = 'c1'`;
    await suite.db
      .sql`insert into bookings (id, trip_id, company_id, seats, channel) values ('while-down', 'c1', 'acme', 8, 'cashier')`;
  } finally {
    // Back on the same port whatever happened, so the next tests find it.
    suite.server = await startService(suite.db.url, { PORT: port });
  }

  await badge(page, 'live');
  await showsSeats(page, 40);
  await page.waitForSelector(`#${rowDomId('booking', 'while-down')}`);
  expect(await rowsOf(page, 'booking', 'while-down')).toBe(1);
  await page.waitForFunction(() => getComputedStyle(document.querySelector('.list')!).opacity === '1');
});

test('a hidden tab closes its stream; made visible, it shows every change it missed, once', async () => {
  const page = await dashboard();
  await badge(page, 'live');
  await eventually(() => suite.server.status().streams === 1, { what: 'the tab streaming' });

  // Headless Chromium keeps its pages visible; the page is told it is hidden as a browser would tell it.
  const setVisibility = (state: 'hidden' | 'visible') =>
    page.evaluate((s) => {
      Object.defineProperty(document, 'visibilityState', { value: s, configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, state);
  await setVisibility('hidden');
  await badge(page, 'paused');
  await eventually(() => suite.server.status().streams === 0, { what: 'the hidden tab closing its stream' });

  await suite.db.sql`update trips set available_slots = 30 where id = 'c1'`;
  await suite.db
    .sql`insert into bookings (id, trip_id, company_id, seats, channel) values ('while-hidden', 'c1', 'acme', 2, 'online')`;
  await suite.db.sql`update bookings set status = 'cancelled' where id = 'while-hidden'`;

  await setVisibility('visible');
  await badge(page, 'live');
  await showsSeats(page, 30);
  await page.waitForSelector(`#${rowDomId('booking', 'while-hidden')} .tag[data-v="cancelled"]`);
  expect(await rowsOf(page, 'booking', 'while-hidden')).toBe(1);
});

test('with /events blocked the page falls back to polling and says so, then returns to live when the stream works', async () => {
  const page = await openDashboard(suite, { tuning: FAST, before: (p) => p.route('**/events/**', (route) => route.abort()) });

  await badge(page, 'polling');
  expect(await page.textContent('#live .state')).toBe('live updates unavailable: refreshing every 0.4 s');
  await suite.db.sql`update trips set available_slots = 20 where id = 'c1'`;
  await showsSeats(page, 20); // by refreshing the lists

  await page.unroute('**/events/**');
  await badge(page, 'live');
  await suite.db
    .sql`insert into bookings (id, trip_id, company_id, seats, channel) values ('after-polling', 'c1', 'acme', 1, 'online')`;
  await page.waitForSelector(`#${rowDomId('booking', 'after-polling')}`);
  expect(await rowsOf(page, 'booking', 'after-polling')).toBe(1);
});
