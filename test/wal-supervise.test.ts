/**
 * Supervision and health of WAL capture: a standby's takeover attempts leave
 * nothing behind, capture that keeps failing makes the instance not ready
 * with the reason, lag shows it, an idle database's slot keeps moving
 * (the slot heartbeat), and the capture worker thread is supervised: one that
 * dies is replaced and nothing is lost; one that stops exits by itself.
 * Needs wal_level=logical: runs with PGFEED_TEST_CAPTURE=wal.
 */
import workerThreads from 'node:worker_threads';
import type { Pgfeed } from '../src/service';
import { startCapturingProcess } from './support/capturing-process';
import { freshDatabase, type TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { trackHandles } from './support/handles';
import { startProxy } from './support/proxy';
import { captured, metric, startService, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
});
afterAll(() => db?.drop());

interface Readyz {
  ready: boolean;
  reason?: string;
  capture?: { role?: string; failures?: number; error?: string };
}

async function readyz(url: string): Promise<{ status: number; body: Readyz }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as Readyz };
}

test('a standby trying to take the slot again and again leaks no timer or connection, and leaves none after stop', async () => {
  // The capturing instance is another process, so every handle created in this one from here on is the standby's.
  const holder = await startCapturingProcess(['start'], db.url);
  // What the capture and listener code and the driver create (express-rate-limit's stores are the HTTP app's).
  const handles = trackHandles(/\/src\/(capture|listener|db)\/|\/(node_modules|vendor)\/postgres\//);
  try {
    // On this thread (CAPTURE_THREAD=false), so the handles are this process's to count; the worker thread
    // runs the same Capturer (its own exit on stop is checked below).
    const standby = await startService(db.url, { CAPTURE: 'wal', CAPTURE_TAKEOVER_MS: 50, CAPTURE_THREAD: false });
    try {
      const attempts = () => metric(standby, 'pgfeed_capture_attempts_total');
      await eventually(async () => (await attempts()) >= 10, { timeoutMs: 20_000, what: '10 takeover attempts' });
      expect(standby.status().capture.role).toBe('standby');
      const early = handles.live();
      await eventually(async () => (await attempts()) >= 70, { timeoutMs: 30_000, what: '70 takeover attempts' });
      const late = handles.live();
      // Sixty more attempts; a leak of one handle per attempt would show as 60.
      expect(late.Timeout ?? 0).toBeLessThanOrEqual((early.Timeout ?? 0) + 5);
      expect(late.TCPWRAP ?? 0).toBeLessThanOrEqual((early.TCPWRAP ?? 0) + 2);
      // A busy slot is a standby's normal state: ready, no failures.
      const { status, body } = await readyz(standby.url);
      expect(status).toBe(200);
      expect(body.capture).toMatchObject({ role: 'standby', failures: 0 });
    } finally {
      await standby.close();
    }
    // Destruction is reported asynchronously: wait for it, then nothing the standby created is left.
    await eventually(() => Object.keys(handles.live()).length === 0, { timeoutMs: 5000 }).catch(() => undefined);
    expect(handles.origins()).toEqual([]);
  } finally {
    handles.stop();
    holder.child.kill('SIGKILL');
  }
}, 90_000);

test('capture that keeps failing makes /readyz 503 with the reason, lag shows it, and recovery makes it 200 again', async () => {
  // A database of its own (no slot history from the tests before); only the replication connection goes
  // through the proxy: cutting it fails capture and nothing else.
  const db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  const proxy = await startProxy(db.url);
  let svc: Pgfeed | undefined;
  try {
    svc = await startService(db.url, {
      CAPTURE: 'wal',
      CAPTURE_DATABASE_URL: proxy.url,
      CAPTURE_TAKEOVER_MS: 100,
      CAPTURE_HEARTBEAT_MS: 300,
      CAPTURE_SLOT_HEARTBEAT_MS: 200,
    });
    const server = svc;
    await eventually(() => server.status().capture.role === 'capturing', { what: 'capturing' });
    expect((await readyz(server.url)).status).toBe(200);
    const stream = await openLiveStream(`${server.url}/events/company/acme`, {
      token: await tokenFor(server, 'alice', 'acme', 'admin'),
    });
    const write = tripWriter(db.sql, 'failing-');

    // Capture works first (something applied), then its route is cut.
    const first = await write(1);
    await stream.waitFor((f) => f.json?.key === first.at(-1), { timeoutMs: 15_000 });
    proxy.cut();
    const cutAt = Date.now();
    const during = await write(3);
    await eventually(async () => (await readyz(server.url)).status === 503, { timeoutMs: 30_000, what: '/readyz 503' });
    const notReadyMs = Date.now() - cutAt;
    const { body } = await readyz(server.url);
    expect(body.ready).toBe(false);
    expect(body.reason).toMatch(/^capture failing: \d+ attempts in a row since .+: .+/);
    expect(body.capture?.failures).toBeGreaterThanOrEqual(3);
    expect(server.status()).toMatchObject({ ready: false, reason: body.reason });
    expect(await metric(server, 'pgfeed_ready')).toBe(0);
    expect(await metric(server, 'pgfeed_capture_failures')).toBeGreaterThanOrEqual(3);
    // What was committed meanwhile is held in the slot, and the log falls behind by the second.
    expect(await metric(server, 'pgfeed_capture_lag_bytes')).toBeGreaterThan(0);
    await eventually(async () => (await metric(server, 'pgfeed_capture_behind_seconds')) >= 1.5, {
      timeoutMs: 20_000,
      what: 'pgfeed_capture_behind_seconds growing while capture fails',
    });

    proxy.heal();
    await eventually(async () => (await readyz(server.url)).status === 200, { timeoutMs: 15_000, what: '/readyz 200 again' });
    await stream.waitFor((f) => f.json?.key === during.at(-1), { timeoutMs: 15_000 });
    expect(stream.events().map((f) => f.json.key)).toEqual([...first, ...during]);
    await eventually(async () => (await metric(server, 'pgfeed_capture_behind_seconds')) < 1, {
      what: 'pgfeed_capture_behind_seconds back under a second',
    });
    expect((await readyz(server.url)).body.capture).toMatchObject({ role: 'capturing', failures: 0 });
    stream.close();
    process.stdout.write(`capture cut → /readyz 503 in ${notReadyMs} ms\n`);
  } finally {
    await svc?.close();
    await proxy.close();
    await db.drop();
  }
}, 60_000);

test('an append PostgreSQL refuses again and again: /readyz 503 with its error; once accepted, capture resumes and loses nothing', async () => {
  const db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  let svc: Pgfeed | undefined;
  try {
    svc = await startService(db.url, { CAPTURE: 'wal', CAPTURE_TAKEOVER_MS: 100 });
    const server = svc;
    await eventually(() => server.status().capture.role === 'capturing', { what: 'capturing' });
    const stream = await openLiveStream(`${server.url}/events/company/acme`, {
      token: await tokenFor(server, 'alice', 'acme', 'admin'),
    });
    // What a full disk, a lost privilege or a broken migration does to the append: PostgreSQL refuses it.
    await db.sql`create function public.refuse_append() returns trigger language plpgsql as $$
                 begin raise exception 'append refused for the test'; end $$`;
    await db.sql`create trigger refuse_append before insert on pgfeed.events for each row execute function public.refuse_append()`;
    const keys = await tripWriter(db.sql, 'refused-')(2);
    await eventually(async () => (await readyz(server.url)).status === 503, { timeoutMs: 30_000, what: '/readyz 503' });
    const { body } = await readyz(server.url);
    expect(body.reason).toMatch(/^capture failing: \d+ attempts in a row since .+: append refused for the test$/);
    expect(stream.events()).toEqual([]);

    await db.sql`drop trigger refuse_append on pgfeed.events`;
    await eventually(async () => (await readyz(server.url)).status === 200, { timeoutMs: 15_000, what: '/readyz 200 again' });
    await stream.waitFor((f) => f.json?.key === keys.at(-1), { timeoutMs: 15_000 });
    expect(stream.events().map((f) => f.json.key)).toEqual(keys);
    stream.close();
  } finally {
    await svc?.close();
    await db.drop();
  }
}, 60_000);

test('an idle watched database: the slot heartbeat keeps the slot and "seconds behind" moving, and the slot holds no WAL others write', async () => {
  const other = await freshDatabase();
  let svc: Pgfeed | undefined;
  try {
    svc = await startService(db.url, { CAPTURE: 'wal', CAPTURE_SLOT_HEARTBEAT_MS: 200 });
    const server = svc;
    await eventually(() => server.status().capture.role === 'capturing', { what: 'capturing' });
    const held = async () => {
      const [r] = await db.sql<{ bytes: string }[]>`
        select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text as bytes
          from pg_replication_slots where database = current_database()`;
      return Number(r!.bytes);
    };
    const applied = async () => {
      const [r] = await db.sql<
        { lsn: string; at: Date | null }[]
      >`select applied_lsn::text as lsn, applied_at as at from pgfeed.capture_state`;
      return r!;
    };
    // The last watched change, then silence in this database while another one writes 16 MiB of WAL.
    await tripWriter(db.sql, 'idle-')(1);
    await captured(db.sql);
    const last = await applied();
    await other.sql`create table filler (n int, pad text)`;
    await other.sql`insert into filler select g, repeat('x', 1000) from generate_series(1, 16000) g`;
    expect(await held()).toBeGreaterThan(16_000_000);
    // Nothing changes here, yet the applied position and its time move on: the heartbeats.
    await eventually(async () => (await applied()).at!.getTime() > last.at!.getTime() + 1500, {
      what: 'applied_at moving on an idle database',
    });
    expect((await applied()).lsn).not.toBe(last.lsn);
    expect(await metric(server, 'pgfeed_capture_behind_seconds')).toBeLessThan(1);
    // The slot lets go of the other database's WAL (the server writes a restart point every 15 s at most).
    await eventually(async () => (await held()) < 4_000_000, { timeoutMs: 40_000, what: 'the slot letting go of the WAL' });
    expect(await metric(server, 'pgfeed_capture_lag_bytes')).toBeLessThan(4_000_000);
  } finally {
    await svc?.close();
    await other.drop();
  }
}, 60_000);

/** Records every worker thread started from now on (the capture worker is the only one pgfeed starts). */
function recordWorkers(): { started: workerThreads.Worker[]; exits: number[]; stop(): void } {
  const Original = workerThreads.Worker;
  const started: workerThreads.Worker[] = [];
  const exits: number[] = [];
  workerThreads.Worker = class extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      started.push(this);
      this.once('exit', (code) => exits.push(code));
    }
  };
  return { started, exits, stop: () => void (workerThreads.Worker = Original) };
}

test('the capture worker thread dies mid-stream: a new one takes over, /readyz says so meanwhile, nothing is lost or doubled', async () => {
  const db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  const workers = recordWorkers();
  let svc: Pgfeed | undefined;
  try {
    svc = await startService(db.url, { CAPTURE: 'wal', CAPTURE_THREAD: true });
    const server = svc;
    await eventually(() => server.status().capture.role === 'capturing', { what: 'capturing' });
    expect(workers.started).toHaveLength(1);
    const stream = await openLiveStream(`${server.url}/events/company/acme`, {
      token: await tokenFor(server, 'alice', 'acme', 'admin'),
    });
    const write = tripWriter(db.sql, 'thread-');
    const before = await write(3);
    await stream.waitFor((f) => f.json?.key === before.at(-1), { timeoutMs: 15_000 });

    // What an uncaught error or running out of memory in the worker does: the thread is gone at once.
    const attempts0 = await metric(server, 'pgfeed_capture_attempts_total');
    await workers.started[0]!.terminate();
    await eventually(() => server.status().capture.failures === 1, { what: 'the death counted as a failure' });
    expect(server.status().capture).toMatchObject({
      role: 'standby',
      error: expect.stringMatching(/capture worker thread exited/),
    });
    const during = await write(3);
    await eventually(() => workers.started.length === 2 && server.status().capture.role === 'capturing', {
      timeoutMs: 15_000,
      what: 'a new worker capturing',
    });
    const after = await write(3);
    await stream.waitFor((f) => f.json?.key === after.at(-1), { timeoutMs: 15_000 });
    expect(stream.events().map((f) => f.json.key)).toEqual([...before, ...during, ...after]);
    expect((await readyz(server.url)).body.capture).toMatchObject({ role: 'capturing', failures: 0 });
    // The attempts of the dead worker still count: the counter only grows.
    expect(await metric(server, 'pgfeed_capture_attempts_total')).toBeGreaterThan(attempts0);
    stream.close();
  } finally {
    await svc?.close();
    workers.stop();
    await db.drop();
  }
}, 60_000);

test('stop() ends the capture worker thread: it closes its connections and exits by itself, and leaves no handle here', async () => {
  const workers = recordWorkers();
  const handles = trackHandles(/\/src\/capture\//, ['Timeout', 'TCPWRAP', 'WORKER', 'MESSAGEPORT']);
  try {
    const svc = await startService(db.url, { CAPTURE: 'wal', CAPTURE_THREAD: true });
    await eventually(() => svc.status().capture.role !== 'idle', { what: 'the capturer running' });
    expect(workers.started).toHaveLength(1);
    expect(handles.live().WORKER).toBe(1);
    await svc.close();
    // Exit code 0: the thread ended on its own; one terminated for hanging on to a handle ends with 1.
    expect(workers.exits).toEqual([0]);
    await eventually(() => Object.keys(handles.live()).length === 0, { timeoutMs: 5000 }).catch(() => undefined);
    expect(handles.origins()).toEqual([]);
    const [r] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'pgfeed-capture'`;
    expect(r!.n).toBe(0);
  } finally {
    handles.stop();
    workers.stop();
  }
}, 60_000);
