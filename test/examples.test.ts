/**
 * The examples as their users run them, against pgfeed as they install it:
 * the packed package (as test/package.test.ts packs it) in node_modules beside
 * the examples, the client's one dependency next to it, nothing else.
 * The Node app keeps a live copy with live(), its consumer resumes after a restart
 * and refetches on reset; the browser page, on an origin of its own, keeps a live
 * copy through CORS.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import type { Pgfeed } from '../src/service';
import { launchBrowser, newPage } from './support/browser';
import { ROOT } from './support/build';
import type { TestDatabase } from './support/db';
import { caughtUp, closeService, serviceOnFreshDatabase, startService, tokenFor } from './support/service';
import { freePort } from './support/toolkit';

const run = promisify(execFile);
/** The examples' origins pgfeed lets read its streams. */
const corsOrigins = () => [allowedPort, livePort, htmxPort].map((p) => `http://127.0.0.1:${p}`).join(',');
let dir: string;
let db: TestDatabase;
let server: Pgfeed;
let token: string;
let allowedPort: number;
let livePort: number;
let htmxPort: number;
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-examples-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  const installed = path.join(dir, 'node_modules', 'pgfeed');
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', path.join(dir, packed!.filename), '-C', installed, '--strip-components=1']);
  // The client's one dependency; react and react-dom for the live example's React page; htmx for the htmx one.
  for (const dependency of ['eventsource-parser', 'react', 'react-dom', 'scheduler', 'htmx.org', 'htmx-ext-sse']) {
    await cp(path.join(ROOT, 'node_modules', dependency), path.join(dir, 'node_modules', dependency), { recursive: true });
  }
  for (const example of ['node', 'browser', 'live', 'htmx']) {
    await cp(path.join(ROOT, 'examples', example), path.join(dir, example), {
      recursive: true,
      filter: (src) => !src.includes('node_modules') && !/public\/(app|react|store)\.js$/.test(src),
    });
  }
  // The browser examples' own build scripts, with the repository's esbuild on PATH.
  for (const example of ['browser', 'live']) {
    await run('npm', ['run', 'build', '--silent'], {
      cwd: path.join(dir, example),
      env: { ...process.env, PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}` },
    });
  }
  allowedPort = await freePort();
  livePort = await freePort();
  htmxPort = await freePort();
  ({ db, server } = await serviceOnFreshDatabase({
    // A retry (the browser's EventSource reconnect delay) longer than a restart of pgfeed takes here, so the htmx
    // example's stream reconnects once, with Last-Event-ID, to the restarted service.
    config: { CORS_ORIGINS: corsOrigins(), RETRY_MS: 5000 },
    seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                       values ('ex1', 'acme', 'Porto → Braga', '2026-12-24T08:00:00Z', 40, 40)`,
  }));
  token = await tokenFor(server, 'alice', 'acme', 'admin');
}, 120_000);
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await closeService(server, db);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Starts an example's web server on `port` (its first line of output says it listens); stopped after the file. */
async function serveExample(example: string, script: string, port: number, env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, [script], {
    cwd: path.join(dir, example),
    env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env },
  });
  children.push(child);
  await new Promise((resolve) => child.stdout.once('data', resolve));
  return `http://127.0.0.1:${port}`;
}

const setSlots = (n: number) => db.sql`update trips set available_slots = ${n} where id = 'ex1'`;

describe('the Node example', () => {
  const stateFile = () => path.join(dir, 'node-state');

  /** One run of `node <script>`; its JSON lines as they come. */
  function example(script = 'consumer.mjs') {
    const child = spawn(process.execPath, [script], {
      cwd: path.join(dir, 'node'),
      env: {
        PATH: process.env.PATH ?? '',
        PGFEED_URL: server.url,
        PGFEED_TOKEN: token,
        PGFEED_COMPANY: 'acme',
        STATE_FILE: stateFile(),
      },
    });
    children.push(child);
    const lines: Record<string, unknown>[] = [];
    const waiters = new Set<() => void>();
    let buffer = '';
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const complete = buffer.split('\n');
      buffer = complete.pop()!;
      for (const line of complete) lines.push(JSON.parse(line) as Record<string, unknown>);
      waiters.forEach((w) => w());
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    return {
      lines,
      waitFor: (pred: (line: Record<string, unknown>) => boolean) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const check = () => {
            const found = lines.find(pred);
            if (!found) return;
            waiters.delete(check);
            resolve(found);
          };
          waiters.add(check);
          check();
          void exited.then((code) => reject(new Error(`example exited (${code}): ${JSON.stringify(lines)} ${stderr}`)));
        }),
      stop: async () => {
        child.kill('SIGTERM');
        return exited;
      },
    };
  }

  test('index.mjs, a live copy with live(): the rows, then changes as they commit; SIGTERM ends it', async () => {
    const copy = example('index.mjs');
    expect(await copy.waitFor((l) => 'loaded' in l)).toEqual({ loaded: 1 });
    await copy.waitFor((l) => l.state === 'live');
    await setSlots(35);
    expect(await copy.waitFor((l) => l.change === 'update')).toEqual({ change: 'update', key: 'ex1', availableSlots: 35 });
    expect(await copy.stop()).toBe(0);
  });

  test('consumer.mjs, each event once with subscribe(): changes as they commit, resume after a restart, refetch on reset', async () => {
    const first = example();
    expect(await first.waitFor((l) => 'snapshot' in l)).toMatchObject({ snapshot: 1 });
    await first.waitFor((l) => 'ready' in l);
    await setSlots(39);
    await first.waitFor((l) => l.event === 'trip.updated' && l.availableSlots === 39);
    expect(await first.stop()).toBe(0);

    await setSlots(38); // while it is stopped
    await caughtUp(server, db.sql); // in the log (with CAPTURE=wal a commit reaches it a moment later), so the resume replays it
    const second = example();
    expect(await second.waitFor((l) => 'ready' in l)).toMatchObject({ replayed: 1 });
    expect(second.lines.find((l) => 'snapshot' in l)).toBeUndefined(); // resumed, no refetch
    expect(second.lines.filter((l) => 'event' in l).map((l) => l.availableSlots)).toEqual([38]);
    expect(await second.stop()).toBe(0);

    await writeFile(stateFile(), 'not-an-event-id');
    const third = example();
    expect(await third.waitFor((l) => 'reset' in l)).toEqual({ reset: 'malformed' });
    expect(await third.waitFor((l) => 'snapshot' in l)).toMatchObject({ snapshot: 1 });
    expect(await third.stop()).toBe(0);
  });
});

describe('the browser example, on an origin of its own', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => browser?.close());

  async function serve(port: number): Promise<string> {
    const origin = await serveExample('browser', 'serve.mjs', port);
    const hash = new URLSearchParams({ url: server.url, company: 'acme', token });
    return `${origin}/#${hash}`;
  }

  test('with its origin on CORS_ORIGINS: the table fills, changes arrive, a return shows what changed meanwhile', async () => {
    expect(await readdir(path.join(dir, 'browser', 'public'))).toContain('app.js');
    const page = await newPage(browser);
    await page.goto(await serve(allowedPort));
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('live'));
    const slots = 'tr[data-key="ex1"] td:nth-child(3)';
    const now = Number(await page.textContent(slots));
    await setSlots(now - 1);
    await page.waitForFunction(([sel, n]) => document.querySelector(sel as string)?.textContent === String(n), [slots, now - 1]);

    await page.goto('about:blank');
    await setSlots(now - 2); // while the page is away
    await caughtUp(server, db.sql);
    await page.goBack();
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live');
    await page.waitForFunction(([sel, n]) => document.querySelector(sel as string)?.textContent === String(n), [slots, now - 2]);
    await page.context().close();
  });

  test('from an origin not on CORS_ORIGINS the browser hands it nothing', async () => {
    const page = await newPage(browser);
    await page.goto(await serve(await freePort()));
    await page.waitForFunction(() =>
      document.getElementById('status')?.textContent?.startsWith('reconnecting (Failed to fetch)'),
    );
    expect(await page.$$('tr[data-key]')).toHaveLength(0);
    await page.context().close();
  });
});

describe('the live example: a trips table with highlight-on-change, with React and with the plain store', () => {
  let browser: Browser;
  let origin: string;
  beforeAll(async () => {
    browser = await launchBrowser();
    origin = await serveExample('live', 'serve.mjs', livePort);
  });
  afterAll(async () => browser?.close());

  for (const name of ['react', 'store']) {
    test(`${name}: the rows from the snapshot, live; a change shows and is highlighted`, async () => {
      const page = await newPage(browser);
      const hash = new URLSearchParams({ url: server.url, company: 'acme', token });
      await page.goto(`${origin}/${name}.html#${hash}`);
      await page.waitForSelector('tr[data-key="ex1"]');
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live');
      const slots = 'tr[data-key="ex1"] td:nth-child(2)';
      const now = Number(await page.textContent(slots));
      await setSlots(now - 1);
      await page.waitForFunction(
        ([sel, n]) => document.querySelector(sel as string)?.textContent === String(n),
        [slots, now - 1],
      );
      expect(await page.getAttribute('tr[data-key="ex1"]', 'class')).toBe('changed');
      await page.context().close();
    });
  }
});

describe('the htmx example: a server-rendered page kept live by htmx-ext-sse against format=html', () => {
  let browser: Browser;
  let origin: string;
  beforeAll(async () => {
    browser = await launchBrowser();
    origin = await serveExample('htmx', 'server.mjs', htmxPort, { PGFEED_URL: server.url, PGFEED_TOKEN: token, POLL_MS: '300' });
  });
  afterAll(async () => browser?.close());

  const seats = '#list-trip [data-key="ex1"] [data-col="seats left"]';
  const shows = (page: Page, text: string) =>
    page.waitForFunction(([sel, t]) => document.querySelector(sel as string)?.textContent === t, [seats, text]);
  const capacity = async () => (await db.sql<{ capacity: number }[]>`select capacity from trips where id = 'ex1'`)[0]!.capacity;

  test('changes arrive as fragments; after pgfeed restarts, the browser resumes with Last-Event-ID and misses nothing', async () => {
    const page = await newPage(browser);
    await page.route('**/rows', (route) => route.abort()); // no polling: what arrives comes by the stream
    const resumedFrom: string[] = [];
    page.on('request', (r) => {
      const last = r.headers()['last-event-id'];
      if (r.url().includes('/events/') && last) resumedFrom.push(last);
    });
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live');
    await setSlots(30);
    await shows(page, `30 of ${await capacity()}`);

    const port = server.port;
    await server.close();
    await setSlots(29); // while pgfeed is down
    server = await startService(db.url, { PORT: port, CORS_ORIGINS: corsOrigins(), RETRY_MS: 5000 });
    await shows(page, `29 of ${await capacity()}`);
    expect(resumedFrom.length).toBeGreaterThan(0); // EventSource's own reconnect, from its last event id
    await page.context().close();
  });

  test('with the stream blocked, the list is refreshed by polling', async () => {
    const page = await newPage(browser);
    await page.route('**/events/**', (route) => route.abort());
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.body.dataset.sse === 'error');
    await setSlots(21);
    await shows(page, `21 of ${await capacity()}`);
    await page.context().close();
  });
});
