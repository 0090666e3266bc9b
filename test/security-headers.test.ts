/**
 * Security headers (helmet) with a strict Content Security Policy — and pages
 * that live within it: a real browser loads each page, applies its stylesheet,
 * streams, and reports no violation.
 */
import type { Browser, Page } from 'playwright-core';
import type { Pgfeed } from '../src/service';
import { launchBrowser, newPage } from './support/browser';
import { openLiveStream } from './support/stream';
import type { TestDatabase } from './support/db';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { rowDomId } from '../src/streams/html';

let db: TestDatabase;
let server: Pgfeed;
let browser: Browser;

beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase({
    seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                       values ('csp1', 'acme', 'Lisbon → Faro', '2026-12-24T08:00:00Z', 30, 30)`,
  }));
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await closeService(server, db);
});

test.each(['/', '/healthz', '/events/public/acme?format=xml', '/api/companies/acme/trips'])(
  '%s carries the headers',
  async (path) => {
    const res = await fetch(`${server.url}${path}`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  },
);

/** Every header helmet sets, as the service sets it on a page. */
const HELMET_HEADERS = [
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];

test('an open stream carries the same security headers as any other response', async () => {
  const page = await fetch(`${server.url}/healthz`);
  const token = await tokenFor(server, 'sam', 'acme', 'admin');
  for (const path of ['/events/company/acme', '/events/public/acme']) {
    const stream = await openLiveStream(`${server.url}${path}`, { token });
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    for (const name of HELMET_HEADERS) {
      expect([name, stream.headers.get(name)]).toEqual([name, page.headers.get(name)]);
      expect(stream.headers.get(name)).not.toBeNull();
    }
    expect(stream.headers.get('x-powered-by')).toBeNull();
    stream.close();
  }
});

/** Opens `path` and collects what the browser refused under the page's policy. */
async function visit(path: string): Promise<{ page: Page; violations: string[] }> {
  const page = await newPage(browser);
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  await page.goto(`${server.url}${path}`);
  return { page, violations };
}

test.each([
  ['/dashboard', 'admin'],
  ['/cashier', 'cashier'],
  ['/public/acme', undefined],
])('%s works under the policy: styled, live, nothing refused', async (path, role) => {
  const token = role ? `?access_token=${await tokenFor(server, 'sam', 'acme', role as 'admin' | 'cashier')}` : '';
  const { page, violations } = await visit(`${path}${token}`);
  const available = `#${rowDomId('trip', 'csp1')} [data-col="seats left"] .num`;
  await page.waitForSelector(available);
  // The stylesheet applied (body background from /assets/pgfeed.css) and the pages' script runs (its badge turns live).
  expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(246, 247, 249)');
  await page.waitForSelector('#live[data-state="live"]');
  const before = Number(await page.textContent(available));
  // The page's stream resumes from its snapshot, so a change made now reaches it whenever it connects.
  await db.sql`update trips set available_slots = available_slots - 1 where id = 'csp1'`;
  await page.waitForFunction(
    ([sel, n]) => Number(document.querySelector(sel as string)?.textContent) === n,
    [available, before - 1],
  );
  expect(violations).toEqual([]);
  await page.context().close();
});
