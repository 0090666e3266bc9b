import type { Pgfeed } from '../src/service';
import { listDomId, rowDomId } from '../src/streams/html';
import type { TestDatabase } from './support/db';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;

beforeAll(
  async () =>
    ({ db, server } = await serviceOnFreshDatabase({
      seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('x1', 'acme', '<script>alert(1)</script>', '2026-12-24T08:00:00Z', 10, 10)`,
    })),
);
afterAll(() => closeService(server, db));

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, { headers, redirect: 'manual' });

test('?access_token moves the token into an HttpOnly cookie and out of the URL', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const res = await get(`/dashboard?access_token=${token}`);
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe('/dashboard');
  const cookie = res.headers.get('set-cookie') ?? '';
  expect(cookie).toMatch(/^pgfeed_token=[^;]+;/);
  expect(cookie).toMatch(/HttpOnly/i);
  expect(cookie).toMatch(/SameSite=Lax/i);
  const page = await get('/dashboard', { Cookie: cookie.split(';')[0]! });
  expect(page.status).toBe(200);
  const html = await page.text();
  // pages.js keeps the company's lists current with live() (docs/pages.md).
  expect(html).toMatch(
    /<main data-live-scope="\{&quot;company&quot;:&quot;acme&quot;\}" data-live-entities="trip,stock,checkout,booking"/,
  );
  expect(html).toContain(`id="${rowDomId('trip', 'x1')}"`);
  // Rows are escaped.
  expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  expect(html).not.toContain('<script>alert(1)</script>');
});

test('without a token the pages are 401; a customer gets 403', async () => {
  expect((await get('/dashboard')).status).toBe(401);
  expect((await get('/cashier')).status).toBe(401);
  expect((await get('/dashboard?access_token=forged')).status).toBe(401);
  const customer = await tokenFor(server, 'cora', 'acme', 'customer');
  expect((await get('/dashboard', { Cookie: `pgfeed_token=${customer}` })).status).toBe(403);
});

test('the public page needs no token and shows availability only', async () => {
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity, reserved) values ('s1', 'acme', 'SKU', 'Lamp', 5, 2)`;
  const res = await get('/public/acme');
  expect(res.status).toBe(200);
  const html = await res.text();
  expect(html).toMatch(/data-col="available">3</);
  expect(html).not.toContain('data-col="reserved"');
  expect(html).not.toContain('>reserved<'); // nor its header
});

test('format=html fragments replace, append and remove the same elements the page renders', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const s = await openStream(`${server.url}/events/company/acme?format=html&entities=trip`, { token });
  await s.waitFor((f) => f.event === 'ready');
  await db.sql`update trips set available_slots = 7 where id = 'x1'`;
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('x2', 'acme', 'New', '2026-12-24T08:00:00Z', 4, 4)`;
  await db.sql`delete from trips where id = 'x2'`;
  await s.waitFor((f) => f.event === 'trip.deleted');
  const [updated, created, deleted] = s.events().map((f) => f.data);
  expect(updated).toMatch(
    new RegExp(`^<div id="${rowDomId('trip', 'x1')}" class="row trip" data-key="x1" data-event-id="\\d+" hx-swap-oob="true">`),
  );
  expect(updated).toContain('data-col="seats left"><b class="num">7</b> of 10<');
  expect(updated).toContain('&lt;script&gt;');
  // A created row goes first: live lists show the newest first.
  expect(created).toMatch(new RegExp(`^<div hx-swap-oob="afterbegin:#${listDomId('trip')}"><div id="${rowDomId('trip', 'x2')}"`));
  expect(deleted).toBe(`<div id="${rowDomId('trip', 'x2')}" hx-swap-oob="delete"></div>`);
  s.close();
});

test('every page runs under a CSP without unsafe-inline: no inline script, style or handler, assets served locally', async () => {
  const admin = await tokenFor(server, 'alice', 'acme', 'admin');
  const cashier = await tokenFor(server, 'carl', 'acme', 'cashier');
  const customer = await tokenFor(server, 'cora', 'acme', 'customer');
  const pages = [
    await get('/'),
    await get('/dashboard', { Cookie: `pgfeed_token=${admin}` }),
    await get('/cashier', { Cookie: `pgfeed_token=${cashier}` }),
    await get('/public/acme'),
    await get('/dashboard'), // sign in
    await get('/dashboard', { Cookie: `pgfeed_token=${customer}` }), // forbidden
    await get(`/dashboard?access_token=${cashier}`, { Cookie: `pgfeed_token=${admin}` }), // switch user?
  ];
  for (const res of pages) {
    const html = await res.text();
    expect(html).toContain('<link rel="stylesheet" href="/assets/pgfeed.css">');
    expect(html).not.toMatch(/<style/i);
    expect(html).not.toMatch(/\sstyle=/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    for (const [, attrs] of html.matchAll(/<script([^>]*)>/gi)) expect(attrs).toMatch(/^ src="\/assets\/[\w.-]+\.js" defer$/);
    expect(html).not.toMatch(/<script[^>]*>[^<]+<\/script>/i);
  }
  for (const asset of ['/assets/pgfeed.css', '/assets/pages.js', '/assets/portal.js'])
    expect((await get(asset)).status).toBe(200);
  // The pages' script is the esbuild bundle of src/domain/pages/browser (npm run build), not a copy kept by hand.
  expect(await (await get('/assets/pages.js')).text()).toContain('main[data-live-scope]');
});

test('the index links the dashboard, the cashier and the public page; the public page says whether booking is open', async () => {
  const admin = await tokenFor(server, 'alice', 'acme', 'admin');
  const index = await (await get('/', { Cookie: `pgfeed_token=${admin}` })).text();
  expect(index).toContain('href="/dashboard"');
  expect(index).toContain('href="/cashier"');
  expect(index).toContain('href="/public/acme"');
  const anonymous = await (await get('/')).text();
  expect(anonymous).toContain('<form class="inline" method="get" action="/public">');
  const redirect = await get('/public?company=acme');
  expect(redirect.headers.get('location')).toBe('/public/acme');

  await db.sql`update trips set booking_halted = true where id = 'x1'`;
  const html = await (await get('/public/acme')).text();
  expect(html).toContain('data-col="booking"><b class="tag" data-v="halted">halted</b>');
  await db.sql`update trips set booking_halted = false where id = 'x1'`;
});
