/**
 * Issue 7, item 1: PostgreSQL restarts (fast and immediate stops, alternately) while eight
 * workers write stock and read snapshots and a company stream is open. pgfeed runs as
 * `npm start` does, in a process of its own, so a crash shows as an exit, not as a failed
 * assertion inside jest. PGFEED_RESTARTS sets the number of restarts (default 4).
 */
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../src/db/connect';
import { Auth } from '../src/http/auth';
import { pgfeed as pgfeedCommand } from './support/cli';
import { type RestartableDatabase, restartableDatabase } from './support/restartable';
import { TEST_JWT_SECRET } from './support/service';
import { Follower, type PgfeedProcess, type Tally, errorCode, listeningProcess, nextEvents } from './support/under-load';

const RESTARTS = Number(process.env.PGFEED_RESTARTS ?? 4);
const WORKERS = 8;
/** Progress on stderr when PGFEED_TEST_LOG is set (as the other tests' service logs). */
const trace = (msg: string) => process.env.PGFEED_TEST_LOG && process.stderr.write(`restart-under-load: ${msg}\n`);
const ITEMS = Array.from({ length: WORKERS }, (_, i) => `load-${i + 1}`);

let db: RestartableDatabase;
let sql: Sql;
let pgfeed: PgfeedProcess;
let token: string;

const ask = (cmd: 'stop:fast' | 'stop:immediate' | 'start') => db.ask(cmd);

/** `pgfeed demo` (what `npm start` runs: the demo's API) against `url`; resolves once it listens. */
async function startPgfeedProcess(url: string): Promise<PgfeedProcess> {
  const child = pgfeedCommand(['demo', '--seed', 'never'], {
    DATABASE_URL: url,
    JWT_SECRET: TEST_JWT_SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    LISTENER_PING_MS: '500',
  });
  return listeningProcess(child);
}

beforeAll(async () => {
  db = await restartableDatabase();
  sql = db.sql;
  for (const id of ITEMS) {
    await sql`insert into stock_items (id, company_id, sku, name, quantity) values (${id}, 'acme', ${id}, 'Load', 0)`;
  }
  await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
            values ('load-trip', 'acme', 'A-B', '2026-12-24T08:00:00Z', 40, 40)`;
  pgfeed = await startPgfeedProcess(db.url);
  token = await new Auth(TEST_JWT_SECRET).sign({ sub: 'alice', company: 'acme', role: 'admin' });
}, 60_000);

afterAll(async () => {
  if (pgfeed && !pgfeed.exit) {
    pgfeed.child.kill('SIGTERM');
    await pgfeed.exited;
  }
  await db?.close();
});

test(
  `PostgreSQL restarts ${RESTARTS} times under load: pgfeed stays up, answers 2xx or 503 not_ready, the stream loses and doubles nothing`,
  async () => {
    const started = Date.now();
    const tally: Tally = { ok: 0, notReady: 0, other: [] };
    const acked: { key: string; quantity: number }[] = [];
    const writes = new EventEmitter();
    const unlessExited = <T>(p: Promise<T>): Promise<T> => pgfeed.unlessExited(p);

    const [head] = await sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from pgfeed.events`;
    const follower = new Follower(`${pgfeed.base}/events/company/acme`, token);
    await unlessExited(follower.ready());

    const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> => {
      let status = 0;
      let text = '';
      try {
        const res = await fetch(pgfeed.base + path, {
          method,
          headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(15_000),
        });
        status = res.status;
        text = await res.text();
      } catch (error) {
        tally.other.push(`${method} ${path}: no answer (${String(error)})`);
        await delay(20);
        return undefined;
      }
      if (status >= 200 && status < 300) {
        tally.ok++;
        return JSON.parse(text);
      }
      if (status === 503 && errorCode(text) === 'not_ready') {
        tally.notReady++;
        await delay(20); // a client backs off on 503; without it eight workers spin while the server is down
        return undefined;
      }
      tally.other.push(`${method} ${path}: ${status} ${text.slice(0, 300)}`);
      return undefined;
    };

    let stopping = false;
    const worker = async (key: string) => {
      while (!stopping) {
        const row = (await call('POST', `/api/stock/${key}/adjust`, { delta: 1 })) as { quantity: number } | undefined;
        if (row) {
          acked.push({ key, quantity: row.quantity });
          writes.emit('ok');
        }
        await call('GET', '/api/companies/acme/trips');
      }
    };
    const acknowledged = (n: number) => unlessExited(nextEvents(writes, 'ok', n));

    const workers = ITEMS.map(worker);
    let expected: { id: string; key: string; op: string; quantity: number }[];
    try {
      for (let i = 0; i < RESTARTS; i++) {
        await acknowledged(WORKERS);
        const mode = i % 2 === 0 ? 'fast' : 'immediate';
        trace(`restart ${i + 1}: stop -m ${mode} (${JSON.stringify({ ...tally, other: tally.other.length })})`);
        await unlessExited(ask(`stop:${mode}`));
        await unlessExited(ask('start'));
        trace(`restart ${i + 1}: started`);
        if (i === Math.floor(RESTARTS / 2)) follower.resume(); // a reconnect with Last-Event-ID amid the restarts
      }
      await acknowledged(WORKERS); // serving writes again after the last restart
      stopping = true;
      await Promise.all(workers);
      expected = (
        await sql<{ id: string; key: string; op: string; quantity: number }[]>`
          select e.id::text as id, e.key, e.op, (e.row->>'quantity')::int as quantity
            from pgfeed.events e where e.company_id = 'acme' and e.id > ${head!.id}::bigint order by e.id`
      ).map((r) => ({ ...r }));
      if (expected.length > 0) await unlessExited(follower.waitForId(expected.at(-1)!.id));
    } finally {
      stopping = true;
      await Promise.all(workers);
      await follower.close();
    }
    const received = follower.events().map((f) => ({
      id: f.id,
      key: f.json.key as string,
      op: f.json.op as string,
      quantity: f.json.row.quantity as number,
    }));
    const finals = await sql<{ id: string; quantity: number }[]>`
    select id, quantity from stock_items where id like 'load-%' order by id`;

    process.stdout.write(
      `\npostgres-restart-under-load: ${JSON.stringify({
        restarts: RESTARTS,
        exits: pgfeed.exit ? 1 : 0,
        responses: { ok: tally.ok, notReady: tally.notReady, other: tally.other.length },
        acknowledgedWrites: acked.length,
        committedChanges: expected.length,
        streamSegments: follower.segments.length,
        ms: Date.now() - started,
      })}\n`,
    );

    expect(pgfeed.exit).toBeUndefined();
    expect(tally.other).toEqual([]);
    expect(pgfeed.errorLines).toEqual([]);
    // Every committed change exactly once, in commit order, across the resume.
    expect(received).toEqual(expected);
    for (const { id, quantity } of finals) {
      const changes = expected.filter((e) => e.key === id).map((e) => e.quantity);
      // One event per committed +1: 1, 2, …, final quantity, none missing.
      expect(changes).toEqual(Array.from({ length: quantity }, (_, i) => i + 1));
      // A write the service acknowledged has its event (a write answered 503 may or may not have committed).
      for (const a of acked.filter((x) => x.key === id)) expect(changes).toContain(a.quantity);
    }
    expect(acked.length).toBeGreaterThan(0);
  },
  40_000 + RESTARTS * 6_000,
);
