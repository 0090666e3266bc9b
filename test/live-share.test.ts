/**
 * live()'s browser options in a real browser, with the client as pages load it (the esbuild bundle,
 * dist/browser/pgfeed-client.js) on an origin of its own: tabs sharing one stream, a hidden tab pausing,
 * the polling fallback. What a user checks: the rows each tab shows, the changes it reports (each once),
 * its connection state, and how many streams the server holds open (`pgfeed_connections`).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { LiveOptions } from '../src/client';
import type { Pgfeed } from '../src/service';
import { launchBrowser } from './support/browser';
import { ROOT } from './support/build';
import type { TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { writeReset } from './support/fixtures';
import { caughtUp, closeService, metric, serviceOnFreshDatabase, tokenFor } from './support/service';
import { freePort } from './support/toolkit';

/**
 * The test page: live() of acme's trips with the options in the URL fragment; it renders the rows and the
 * state, and keeps every change it reported as [kind, key, availableSlots] in `window.changes`.
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>live() test page</title>
<p id="status">loading</p><table><tbody id="rows"></tbody></table>
<script src="/pgfeed-client.js"></script>
<script>
  const options = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  window.changes = [];
  const trips = pgfeed.live({
    ...options,
    onChange: (changes) => window.changes.push(...changes.map((c) => [c.kind, c.item.key, c.item.row.availableSlots])),
  });
  trips.subscribe(({ items, state }) => {
    document.getElementById('status').textContent = state.status;
    document.getElementById('rows').replaceChildren(...items.map(({ key, row }) => {
      const tr = document.createElement('tr');
      tr.dataset.key = key;
      tr.append(Object.assign(document.createElement('td'), { textContent: String(row.availableSlots) }));
      return tr;
    }));
  });
</script>`;

let db: TestDatabase;
let server: Pgfeed;
let browser: Browser;
let pages: http.Server;
let origin: string;
let token: string;

beforeAll(async () => {
  const bundle = readFileSync(path.join(ROOT, 'dist', 'browser', 'pgfeed-client.js'));
  pages = http.createServer((req, res) => {
    if (req.url === '/pgfeed-client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => pages.listen(port, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${port}`; // loopback is a secure context: Web Locks are there
  ({ db, server } = await serviceOnFreshDatabase({
    config: { CORS_ORIGINS: origin },
    seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                       values ('s1', 'acme', 'Lisbon → Porto', '2026-12-24T08:00:00Z', 48, 48)`,
  }));
  token = await tokenFor(server, 'alice', 'acme', 'admin');
  browser = await launchBrowser();
}, 60_000);
afterEach(async () => {
  await Promise.all(browser.contexts().map((c) => c.close()));
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => pages?.close(resolve));
  await closeService(server, db);
});

type PageOptions = Omit<LiveOptions, 'url' | 'scope' | 'token' | 'onChange' | 'onState' | 'fetch' | 'signal'>;

/** A tab of `context` showing acme's trips with live(`options`). */
async function tab(context: BrowserContext, options: PageOptions = {}, before?: (page: Page) => Promise<unknown>): Promise<Page> {
  const page = await context.newPage();
  await before?.(page);
  const all = {
    url: server.url,
    scope: { company: 'acme' },
    entities: ['trip'],
    token,
    backoff: { minMs: 50, maxMs: 200 },
    ...options,
  };
  await page.goto(`${origin}/#${encodeURIComponent(JSON.stringify(all))}`);
  return page;
}

const status = (page: Page, want: string) =>
  page.waitForFunction((w) => document.getElementById('status')?.textContent === w, want);
const shows = (page: Page, slots: number) =>
  page.waitForFunction((n) => document.querySelector('tr[data-key="s1"] td')?.textContent === String(n), slots);
/** The changes the page reported for s1, after the first load. */
const changesOf = async (page: Page) =>
  ((await page.evaluate('window.changes')) as [string, string, number][]).filter(
    ([kind, key]) => key === 's1' && kind !== 'insert',
  );
const setSlots = (n: number) => db.sql`update trips set available_slots = ${n} where id = 's1'`;
const openStreams = () => metric(server, 'pgfeed_connections');
/** Headless Chromium keeps its pages visible; the page is told it is hidden as a browser would tell it. */
const setVisibility = (page: Page, state: 'hidden' | 'visible') =>
  page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { value: s, configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);

test('two tabs with shareTab hold one stream and both show a change; when the streaming tab closes, the other streams and shows what committed meanwhile, once', async () => {
  const context = await browser.newContext();
  const first = await tab(context, { shareTab: true });
  await status(first, 'live');
  const second = await tab(context, { shareTab: true });
  await shows(second, 48);
  await status(second, 'live'); // the streaming tab's state
  expect(await openStreams()).toBe(1);

  await setSlots(30);
  await shows(first, 30);
  await shows(second, 30);
  expect(await openStreams()).toBe(1);

  await first.close(); // the browser releases its lock: the second tab takes the stream from its own position
  await setSlots(29);
  await setSlots(28);
  await shows(second, 28);
  await status(second, 'live');
  await eventually(async () => (await openStreams()) === 1, { what: "the second tab's own stream" });
  await setSlots(27);
  await shows(second, 27);
  expect(await changesOf(second)).toEqual([
    ['update', 's1', 30],
    ['update', 's1', 29],
    ['update', 's1', 28],
    ['update', 's1', 27],
  ]);
});

test('a tab that joins while changes commit holds what is forwarded until its snapshot is read: what the snapshot has is not applied again, older over newer', async () => {
  const context = await browser.newContext();
  const first = await tab(context, { shareTab: true });
  await status(first, 'live');
  const second = await tab(context, { shareTab: true }, (page) =>
    page.route('**/snapshots/**', async (route) => {
      // The second tab listens to the channel already: both changes are forwarded to it before its snapshot is read.
      await setSlots(40);
      await shows(first, 40);
      await setSlots(39);
      await shows(first, 39);
      await route.continue();
    }),
  );
  await shows(second, 39);
  await status(second, 'live');
  expect((await second.evaluate('window.changes')) as unknown[]).toEqual([['insert', 's1', 39]]);
  await setSlots(38);
  await shows(second, 38);
  expect(await changesOf(second)).toEqual([['update', 's1', 38]]);
});

test('tabs of different collections (or a different name) do not share', async () => {
  const context = await browser.newContext();
  const one = await tab(context, { shareTab: { name: 'reader-1' } });
  const two = await tab(context, { shareTab: { name: 'reader-2' } });
  await status(one, 'live');
  await status(two, 'live');
  await eventually(async () => (await openStreams()) === 2, { what: 'two streams' });
});

test('pauseWhenHiddenMs: a hidden tab closes its stream (paused); shown again, it shows every change made meanwhile, once', async () => {
  const context = await browser.newContext();
  const page = await tab(context, { shareTab: true, pauseWhenHiddenMs: 100 });
  await status(page, 'live');
  const before = (await changesOf(page)).length;
  await setVisibility(page, 'hidden');
  await status(page, 'paused');
  await eventually(async () => (await openStreams()) === 0, { what: 'the stream closed' });

  await setSlots(20);
  await setSlots(19);
  await caughtUp(server, db.sql);
  await setVisibility(page, 'visible');
  await status(page, 'live');
  await shows(page, 19);
  expect((await changesOf(page)).slice(before)).toEqual([
    ['update', 's1', 20],
    ['update', 's1', 19],
  ]);
});

test('polling: while a proxy refuses the stream the tabs reload their rows (polling); when the stream works again they are live', async () => {
  const context = await browser.newContext();
  await context.route('**/events/**', (route) => route.abort()); // a proxy that lets JSON through, not SSE
  const page = await tab(context, { shareTab: true, polling: { afterFailures: 2, everyMs: 300 } });
  await status(page, 'polling');
  const other = await tab(context, { shareTab: true, polling: { afterFailures: 2, everyMs: 300 } });
  await status(other, 'polling'); // the streaming tab's state; it reloads when that tab does
  await setSlots(15);
  await shows(page, 15); // by reloading the snapshot
  await shows(other, 15);

  await context.unroute('**/events/**');
  await status(page, 'live');
  await status(other, 'live');
  await setSlots(14);
  await shows(page, 14);
  await shows(other, 14);
  for (const each of [page, other]) expect((await changesOf(each)).filter(([, , slots]) => slots === 14)).toHaveLength(1);
});

test('a streaming tab that is hidden hands the stream to a visible tab; shown again, it reads its rows and follows', async () => {
  const context = await browser.newContext();
  const first = await tab(context, { shareTab: true, pauseWhenHiddenMs: 100 });
  await status(first, 'live');
  const second = await tab(context, { shareTab: true, pauseWhenHiddenMs: 100 });
  await status(second, 'live');
  await shows(second, (await db.sql<{ n: number }[]>`select available_slots as n from trips where id = 's1'`)[0]!.n);

  await setVisibility(first, 'hidden');
  await status(first, 'paused');
  await setSlots(12); // the stream changes hands around here: nothing lost, nothing twice
  await setSlots(11);
  await shows(second, 11);
  await eventually(async () => (await openStreams()) === 1, { what: "the second tab's stream" });
  expect((await changesOf(second)).slice(-2)).toEqual([
    ['update', 's1', 12],
    ['update', 's1', 11],
  ]);
  expect((await changesOf(first)).at(-1)).not.toEqual(['update', 's1', 11]); // paused: nothing applied

  const before = (await changesOf(first)).length;
  await setVisibility(first, 'visible');
  await shows(first, 11); // its snapshot, read again: the difference, once
  expect((await changesOf(first)).slice(before)).toEqual([['update', 's1', 11]]);
  await status(first, 'live');
  await setSlots(10);
  await shows(first, 10);
  await shows(second, 10);
  expect(await openStreams()).toBe(1);
});

test('a reset reloads the rows of every tab, which go on sharing one stream', async () => {
  const context = await browser.newContext();
  const snapshotReads = new Map<Page, number>();
  context.on('request', (r) => {
    const page = r.frame().page();
    if (r.url().includes('/snapshots/')) snapshotReads.set(page, (snapshotReads.get(page) ?? 0) + 1);
  });
  const first = await tab(context, { shareTab: true });
  await status(first, 'live');
  const second = await tab(context, { shareTab: true });
  await status(second, 'live');
  expect([snapshotReads.get(first), snapshotReads.get(second)]).toEqual([1, 1]);
  await writeReset(db.sql);
  await eventually(() => snapshotReads.get(first) === 2 && snapshotReads.get(second) === 2, {
    what: `both tabs reloading (${[...snapshotReads.values()]})`,
  });
  await status(first, 'live');
  await setSlots(9);
  await shows(first, 9);
  await shows(second, 9);
  for (const page of [first, second]) expect((await changesOf(page)).filter(([, , n]) => n === 9)).toHaveLength(1);
  expect(await openStreams()).toBe(1);
  expect([snapshotReads.get(first), snapshotReads.get(second)]).toEqual([2, 2]); // one reload each
});

test('polling: a proxy that holds the stream without answering (buffering it) is detected by the ready timeout', async () => {
  const context = await browser.newContext();
  await context.route('**/events/**', () => {}); // never answered, never failed
  const page = await tab(context, { shareTab: true, polling: { afterFailures: 2, everyMs: 300, readyTimeoutMs: 300 } });
  await status(page, 'polling');
  await setSlots(8);
  await shows(page, 8);
  await context.unroute('**/events/**');
  await status(page, 'live');
});
