/**
 * Issue 16, item 4: `pgfeed start --workers N` runs N instances behind one port.
 * A client that reconnects lands on another worker and resumes there with
 * Last-Event-ID, losing nothing; SIGTERM stops every worker and exits 0 within
 * the contract's 10 s.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { Auth } from '../src/http/auth';
import { finish, pgfeed } from './support/cli';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { TEST_CAPTURE, TEST_JWT_SECRET } from './support/service';
import { type Frame, type OpenStream, openLiveStream, waitForEvents } from './support/stream';
import { eventually } from './support/eventually';
import { processTree } from './support/toolkit';

let db: TestDatabase;
let child: ChildProcessWithoutNullStreams;
let exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
let base: string;
let token: string;

const tripKeys = (frames: Frame[]) => frames.map((f) => (f.json as { key: string }).key);

/** Everything the command printed on stdout so far (JSON log lines of the primary and its workers). */
let stdout = '';
const listening = () => [...stdout.matchAll(/"port":(\d+),"msg":"listening"/g)].map((m) => Number(m[1]));

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  // `pgfeed start` streams the tables the operator watches, nothing else.
  await db.sql`select pgfeed.watch('public.trips', company_column => 'company_id')`;
  child = pgfeed(['start', '--workers', '2'], {
    DATABASE_URL: db.url,
    JWT_SECRET: TEST_JWT_SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    CAPTURE: TEST_CAPTURE,
  });
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  exited = finish(child);
  // Both workers listen on the one port the primary shares.
  await eventually(() => listening().length === 2 || child.exitCode !== null, {
    timeoutMs: 90_000,
    what: 'two workers listening',
  });
  expect(new Set(listening()).size).toBe(1);
  base = `http://127.0.0.1:${listening()[0]}`;
  token = await new Auth(TEST_JWT_SECRET).sign({ sub: 'alice', company: 'acme', role: 'admin' });
}, 120_000);

afterAll(async () => {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    for (const pid of processTree(child.pid!).keys()) process.kill(pid, 'SIGKILL');
  }
  await db?.drop();
});

test('two worker processes serve one port', () => {
  const tree = processTree(child.pid!);
  expect(tree.size).toBe(3); // the primary and its two workers
});

test('a worker that dies is replaced, on the same port', async () => {
  const [victim] = [...processTree(child.pid!).keys()].filter((pid) => pid !== child.pid);
  process.kill(victim!, 'SIGKILL');
  await eventually(() => listening().length === 3, { timeoutMs: 30_000, what: 'a third worker listening' });
  expect(stdout).toContain('worker exited; starting another');
  expect(new Set(listening())).toEqual(new Set([listening()[0]]));
  const tree = processTree(child.pid!);
  expect(tree.size).toBe(3);
  expect(tree.has(victim!)).toBe(false);
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
}, 60_000);

test('a client that reconnects to another worker resumes there and loses nothing', async () => {
  const write = tripWriter(db.sql, 'w');
  const url = `${base}/events/company/acme`;
  const first = await openLiveStream(url, { token });
  const firstWorker = first.headers.get('x-pgfeed-worker');
  expect(firstWorker).toMatch(/^\d+$/);
  const seenLive = await write(3);
  const events = await waitForEvents(first, 3);
  expect(tripKeys(events)).toEqual(seenLive);
  first.close();

  const missed = await write(3); // while the client is away
  // The primary hands connections to the workers in turn: within a few tries one lands on the other worker.
  let second: OpenStream & { ready: Frame };
  for (let attempt = 0; ; attempt++) {
    second = await openLiveStream(url, { token, lastEventId: events.at(-1)!.id });
    if (second.headers.get('x-pgfeed-worker') !== firstWorker) break;
    second.close();
    if (attempt === 20) throw new Error(`every reconnect landed on worker ${firstWorker}`);
  }
  expect(second.headers.get('x-pgfeed-worker')).toMatch(/^\d+$/);
  // The missed events come as replay or, if this worker has not reached them yet (wal mode's capture lag), live: either way once, in order.
  const after = await write(2);
  const resumed = await waitForEvents(second, 5);
  expect(tripKeys(resumed)).toEqual([...missed, ...after]);
  const ids = resumed.map((f) => BigInt(f.id!));
  expect(ids.every((id, i) => id > (i === 0 ? BigInt(events.at(-1)!.id!) : ids[i - 1]!))).toBe(true);

  // SIGTERM to the primary: the stream ends (the client would reconnect elsewhere), every worker exits, exit 0 within 10 s.
  const pids = [...processTree(child.pid!).keys()];
  const t0 = Date.now();
  child.kill('SIGTERM');
  await second.ended;
  const { code } = await exited;
  expect(code).toBe(0);
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(pids.filter((pid) => processTree(pid).size > 0)).toEqual([]);
}, 60_000);

test('--workers takes auto or a whole number, and needs DATABASE_URL', async () => {
  const bad = await finish(pgfeed(['start', '--workers', 'many'], { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET }));
  expect(bad.code).toBe(2);
  expect(bad.stderr.trim()).toBe(
    'pgfeed start: --workers must be auto or a whole number from 1 to 256, got "many" (see pgfeed start --help)',
  );
  const noDatabase = await finish(pgfeed(['start', '--workers', 'auto'], {}));
  expect(noDatabase.code).toBe(2);
  expect(noDatabase.stderr).toContain('--workers needs DATABASE_URL');
}, 30_000);
