/**
 * Issue 7, item 1: PostgreSQL restarts (fast and immediate stops, alternately) while eight
 * workers write stock and read snapshots and a company stream is open. pgfeed runs as
 * `npm start` does, in a process of its own, so a crash shows as an exit, not as a failed
 * assertion inside jest. PGFEED_RESTARTS sets the number of restarts (default 4).
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../src/db/connect';
import { Auth } from '../src/http/auth';
import { pgfeed as pgfeedCommand } from './support/cli';
import { type RestartableDatabase, restartableDatabase } from './support/restartable';
import { TEST_JWT_SECRET } from './support/service';
import { type Frame, type OpenStream, openStream } from './support/stream';

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

interface PgfeedProcess {
  base: string;
  /** Resolves when the process exits (it must not, until the test stops it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Requests logged as failed at level error (database errors are warn), and the last output. */
  errorLines: string[];
  tail(): string;
  child: ChildProcessWithoutNullStreams;
}

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
  let tail = '';
  let pending = '';
  const p: PgfeedProcess = {
    base: '',
    exit: undefined,
    errorLines: [],
    tail: () => tail,
    child,
    exited: new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        p.exit = { code, signal };
        resolve(p.exit);
      }),
    ),
  };
  const keep = (text: string) => (tail = (tail + text).slice(-8000));
  child.stderr.on('data', (d: Buffer) => keep(d.toString()));
  const listening = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      keep(text);
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"level":"error"') && line.includes('"msg":"request failed"')) p.errorLines.push(line);
        const m = /"port":(\d+),"msg":"listening"/.exec(line);
        if (m) resolve(Number(m[1]));
      }
    });
    void p.exited.then(() => reject(new Error(`pgfeed exited before listening:\n${tail}`)));
  });
  p.base = `http://127.0.0.1:${await listening}`;
  return p;
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

/** `error.code` of a JSON error body, if it is one. */
function errorCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Every answer, by kind; anything but 2xx or 503 not_ready is described in `other`. */
interface Tally {
  ok: number;
  notReady: number;
  other: string[];
}

/**
 * Keeps the company stream open the way EventSource does: when it ends (or the test closes it),
 * it opens it again with Last-Event-ID set to the last id received.
 */
class Follower {
  readonly segments: OpenStream[] = [];
  private current: OpenStream | undefined;
  private done = false;
  private lastId: string | undefined;
  private readonly loop: Promise<void>;
  private readonly opened = new EventEmitter();

  constructor(private readonly url: string) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.done) {
      const s = await openStream(this.url, { token, ...(this.lastId ? { lastEventId: this.lastId } : {}) }).catch(
        () => undefined,
      );
      if (!s || s.status !== 200) {
        await delay(100); // the EventSource retry interval: the service is not serving streams yet
        continue;
      }
      this.segments.push(s);
      this.current = s;
      this.opened.emit('open', s);
      await s.ended;
      if (this.current === s) this.current = undefined;
      this.lastId = [...s.frames].reverse().find((f) => f.id !== undefined)?.id ?? this.lastId;
    }
  }

  /** The stream that is open now, once it is `ready`. */
  async ready(): Promise<OpenStream> {
    const s = this.current ?? (await new Promise<OpenStream>((resolve) => this.opened.once('open', resolve)));
    await s.waitFor((f) => f.event === 'ready');
    return s;
  }

  /** Ends the open stream; the follower resumes from the last id it saw. */
  resume(): void {
    this.current?.close();
    this.current = undefined;
  }

  /** Change events of every segment, in arrival order. */
  events(): Frame[] {
    return this.segments.flatMap((s) => s.events());
  }

  /** Resolves once an event with `id` arrived, on whichever segment is open then. */
  async waitForId(id: string, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.events().some((f) => f.id === id)) {
      const s = this.current ?? (await new Promise<OpenStream>((resolve) => this.opened.once('open', resolve)));
      await s
        .waitFor((f) => f.id === id, { timeoutMs: Math.max(1, until - Date.now()) })
        .catch((error: unknown) => {
          if (Date.now() >= until) throw error;
        });
    }
  }

  async close(): Promise<void> {
    this.done = true;
    this.current?.close();
    this.segments.forEach((s) => s.close());
    await this.loop;
  }
}

test(
  `PostgreSQL restarts ${RESTARTS} times under load: pgfeed stays up, answers 2xx or 503 not_ready, the stream loses and doubles nothing`,
  async () => {
    const started = Date.now();
    const tally: Tally = { ok: 0, notReady: 0, other: [] };
    const acked: { key: string; quantity: number }[] = [];
    const writes = new EventEmitter();
    const exitedEarly = pgfeed.exited.then((e) => {
      throw new Error(`pgfeed exited (code ${e.code}, signal ${e.signal}):\n${pgfeed.tail()}`);
    });
    exitedEarly.catch(() => {}); // raced below; the assertion on pgfeed.exit reports it too
    /** Fails as soon as pgfeed exits, instead of waiting on something that will never come. */
    const unlessExited = <T>(p: Promise<T>): Promise<T> => Promise.race([p, exitedEarly]);

    const [head] = await sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from pgfeed.events`;
    const follower = new Follower(`${pgfeed.base}/events/company/acme`);
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
    /** Resolves after `n` more acknowledged writes: work is in flight when the next stop lands. */
    const acknowledged = (n: number) =>
      unlessExited(
        new Promise<void>((resolve) => {
          let seen = 0;
          const on = () => {
            if (++seen < n) return;
            writes.off('ok', on);
            resolve();
          };
          writes.on('ok', on);
        }),
      );

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
