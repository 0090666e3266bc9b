import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sparticuz from '@sparticuz/chromium';
import { type Browser, type BrowserContextOptions, type Page, chromium } from 'playwright-core';

const execFileAsync = promisify(execFile);

/** Debian's Chromium, used when installed (`apt-get install chromium`). */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

// Playwright adds --headless and --no-sandbox itself (headless: true, chromiumSandbox: false), and gives
// each launch a fresh, temporary --user-data-dir that it deletes on close (it rejects one passed in args).
const COMMON_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

// @sparticuz/chromium's recommended args (made for AWS Lambda), less: those that turn off the same-origin
// policy and mixed-content blocking (the pages must be tested under the rules a real browser enforces), and
// --single-process, under which closing a browser context takes the whole browser down.
const DROPPED_ARGS = new Set(['--disable-web-security', '--allow-running-insecure-content', '--single-process']);

/** The headless Chromium that @sparticuz/chromium ships, inflated once per version under the temp dir. */
async function packagedChromium(): Promise<{ executablePath: string; args: string[] }> {
  // No WebGL (--disable-webgl rather than SwiftShader's flags), which suits --disable-gpu.
  sparticuz.setGraphicsMode = false;
  const args = sparticuz.args.filter((arg) => !DROPPED_ARGS.has(arg));

  const main = require.resolve('@sparticuz/chromium'); // <pkg>/build/cjs/index.cjs
  const { version } = JSON.parse(readFileSync(path.join(path.dirname(main), '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  const dir = path.join(os.tmpdir(), `pgfeed-sparticuz-chromium-${version}`);
  const executablePath = path.join(dir, 'chromium');
  // `dir` only ever appears complete: it is renamed into place after extraction.
  if (existsSync(executablePath)) return { executablePath, args };

  // executablePath() inflates into os.tmpdir() and treats an existing <tmp>/chromium as done, so two jest
  // workers sharing /tmp would race (one launching the other's half-written file), and an interrupted
  // extraction would stay broken. So each caller runs it in a child node whose TMPDIR is a private staging
  // dir (jest's sandboxed process.env does not reach os.tmpdir()), then renames that dir into place; a
  // caller that loses the rename discards its copy.
  removeStalePartials(dir);
  const staging = mkdtempSync(`${dir}.partial-`);
  const inflating = execFileAsync(
    process.execPath,
    [
      '-e',
      'const c = require(process.argv[1]); c.setGraphicsMode = false; c.executablePath().then((p) => process.stdout.write(p))',
      main,
    ],
    { env: { ...process.env, TMPDIR: staging } },
  ).then(({ stdout }) => stdout); // no argument to executablePath(): the brotli files in the package, no network
  try {
    const inflated = await inflating;
    if (inflated !== path.join(staging, 'chromium')) {
      throw new Error(`@sparticuz/chromium inflated to ${inflated}, expected ${staging}/chromium`);
    }
    try {
      renameSync(staging, dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(executablePath)) throw error;
      // Another worker got there first with an identical copy.
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { executablePath, args };
}

/** Staging dirs over 10 minutes old were left by a run killed mid-extraction (about 200 MB each). */
function removeStalePartials(dir: string): void {
  const prefix = `${path.basename(dir)}.partial-`;
  for (const name of readdirSync(path.dirname(dir))) {
    const stale = path.join(path.dirname(dir), name);
    if (name.startsWith(prefix) && Date.now() - statSync(stale).mtimeMs > 10 * 60_000) {
      rmSync(stale, { recursive: true, force: true });
    }
  }
}

/**
 * Headless Chromium for the browser tests: Debian's when installed, else the one inside @sparticuz/chromium
 * (a devDependency), so `npm test` needs no browser install and never downloads one.
 */
export async function launchBrowser(): Promise<Browser> {
  const { executablePath, args } = existsSync(DEBIAN_CHROMIUM)
    ? { executablePath: DEBIAN_CHROMIUM, args: [] }
    : await packagedChromium();
  return chromium.launch({ executablePath, headless: true, chromiumSandbox: false, args: [...args, ...COMMON_ARGS] });
}

/**
 * A page in a context of its own (own cookies and storage); close it with `page.context().close()`.
 * `options` adds context settings (e.g. `hasTouch`, `isMobile` for a phone).
 */
export async function newPage(
  browser: Browser,
  viewport?: { width: number; height: number },
  options: BrowserContextOptions = {},
): Promise<Page> {
  const context = await browser.newContext({ viewport, ...options }); // Playwright's default is 1280×720
  // Below jest's 30 s, so a wait that never ends fails with Playwright's message (which wait, which selector)
  // instead of an anonymous test timeout.
  context.setDefaultTimeout(15_000);
  return context.newPage();
}
