/**
 * The page tests' common setup: a service on a fresh database and a headless Chromium for the whole file,
 * every browser context closed after each test (so the next counts streams from zero), and a signed-in
 * dashboard with the live() options a test wants.
 */
import type { Browser, Page } from 'playwright-core';
import type { Pgfeed } from '../../src/service';
import { launchBrowser, newPage } from './browser';
import type { TestDatabase } from './db';
import { closeService, serviceOnFreshDatabase, tokenFor } from './service';

export interface PageSuite {
  db: TestDatabase;
  /** A test that restarts the service assigns the new one here. */
  server: Pgfeed;
  browser: Browser;
}

/** Registers the file's hooks; the returned object is filled in by beforeAll. */
export function pageSuite(options: Parameters<typeof serviceOnFreshDatabase>[0] = {}): PageSuite {
  const suite = {} as PageSuite;
  beforeAll(async () => {
    Object.assign(suite, await serviceOnFreshDatabase(options));
    suite.browser = await launchBrowser();
  });
  afterEach(async () => {
    await Promise.all(suite.browser?.contexts().map((c) => c.close()) ?? []);
  });
  afterAll(async () => {
    await suite.browser?.close();
    await closeService(suite.server, suite.db);
  });
  return suite;
}

/** What a test may set in `window.pgfeedLiveOptions` before the page's script runs (src/domain/pages/browser/page.ts). */
export interface PageTuning {
  pauseWhenHiddenMs?: number;
  polling?: { afterFailures?: number; everyMs?: number };
  backoff?: { minMs?: number; maxMs?: number };
  wasMs?: number;
}

/** Short intervals, so connection tests take seconds (the pages' defaults are 1–30 s). */
export const FAST: PageTuning = {
  backoff: { minMs: 100, maxMs: 400 },
  pauseWhenHiddenMs: 200,
  polling: { everyMs: 400, afterFailures: 2 },
};

/**
 * The dashboard of acme signed in as alice (admin), in a context of its own. `before` runs before the
 * page loads (e.g. to route its requests); the badge is not awaited.
 */
export async function openDashboard(
  suite: PageSuite,
  options: { tuning?: PageTuning; before?: (page: Page) => Promise<unknown> } = {},
): Promise<Page> {
  const page = await newPage(suite.browser);
  if (options.tuning) {
    await page.addInitScript(
      (o) => ((window as unknown as { pgfeedLiveOptions: unknown }).pgfeedLiveOptions = o),
      options.tuning,
    );
  }
  await options.before?.(page);
  await page.goto(`${suite.server.url}/dashboard?access_token=${await tokenFor(suite.server, 'alice', 'acme', 'admin')}`);
  return page;
}

/** Waits until the page's badge is in `state` (live, paused, ...). */
export const badge = (page: Page, state: string) => page.waitForSelector(`#live[data-state="${state}"]`);
