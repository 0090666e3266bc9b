import type { DemoRole } from '../../src/domain/roles';
import type { ListenerState } from '../../src/listener/listener';
import { type ConfigInput } from '../../src/config';
import { domain } from '../../src/domain';
import { createLogger, type LogLevel } from '../../src/log';
import { type Pgfeed, type PgfeedOptions, startPgfeed } from '../../src/service';
import type { Sql } from '../../src/db/connect';
import { freshDatabase, type TestDatabase } from './db';
import { seedTwoCompanies } from './fixtures';
import { metricValue } from './toolkit';
import { eventually } from './eventually';
import { SYNC_PREFIX } from '../../src/capture/wal/capturer';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** The capture path every test's service uses: PGFEED_TEST_CAPTURE=wal runs the suite on logical replication. */
export const TEST_CAPTURE: 'trigger' | 'wal' = process.env.PGFEED_TEST_CAPTURE === 'wal' ? 'wal' : 'trigger';

/**
 * The demo domain's pgfeed on a free port against `databaseUrl`, quiet unless
 * PGFEED_TEST_LOG is set. `options` replaces the entities, routes or logger (a test's own).
 */
export async function startService(
  databaseUrl: string,
  config: ConfigInput = {},
  options: Pick<PgfeedOptions, 'entities' | 'routes' | 'operations' | 'logger' | 'authorize'> = domain,
): Promise<Pgfeed> {
  return startPgfeed({
    databaseUrl,
    logger: createLogger((process.env.PGFEED_TEST_LOG as LogLevel | undefined) ?? 'silent'),
    ...options,
    config: {
      PORT: 0,
      HOST: '127.0.0.1',
      JWT_SECRET: TEST_JWT_SECRET,
      LISTENER_PING_MS: 500,
      CAPTURE: TEST_CAPTURE,
      CAPTURE_TAKEOVER_MS: 200,
      ...config,
    },
  });
}

/** A token signed with the service's secret. */
export function tokenFor(server: Pgfeed, sub: string, company: string, role: DemoRole, ttlSeconds = 3600): Promise<string> {
  return server.signToken({ sub, company, role }, ttlSeconds);
}

/** Resolves once `server` has delivered everything committed so far in `sql`'s database (event-driven, no polling). */
export async function caughtUp(server: Pgfeed, sql: Sql, timeoutMs = 10_000): Promise<void> {
  await captured(sql, timeoutMs);
  const [row] = await sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from pgfeed.events`;
  await reached(server, BigInt(row?.id ?? '0'), timeoutMs);
}

/** Resolves once `server` has delivered the event at `position` (or later). */
export function reached(server: Pgfeed, position: bigint, timeoutMs = 10_000): Promise<void> {
  const at = () => BigInt(server.status().position);
  if (at() >= position) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      server.off('event', check);
      reject(new Error(`instance did not reach event ${position} in ${timeoutMs} ms (at ${at()})`));
    }, timeoutMs);
    const check = () => {
      if (at() < position) return;
      clearTimeout(timer);
      server.off('event', check);
      resolve();
    };
    server.on('event', check);
  });
}

/** Resolves when the listener of `server` is (or next becomes) `want`. */
export function listenerState(server: Pgfeed, want: ListenerState): Promise<void> {
  return new Promise((resolve) => {
    if (server.status().listener === want) return resolve();
    const on = (s: ListenerState) => {
      if (s !== want) return;
      server.off('state', on);
      resolve();
    };
    server.on('state', on);
  });
}

/** The current value of one of the server's metrics (summed over label sets that include `labels`). */
export async function metric(server: Pgfeed, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await server.metrics(), name, labels);
}

/**
 * A test file's usual world: a fresh database with two companies (plus `seed`),
 * and a pgfeed on it. Pair with `closeService` in afterAll.
 */
export async function serviceOnFreshDatabase(
  options: { config?: ConfigInput; seed?: (sql: TestDatabase['sql']) => Promise<unknown> } = {},
): Promise<{ db: TestDatabase; server: Pgfeed }> {
  const db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  await options.seed?.(db.sql);
  return { db, server: await startService(db.url, options.config) };
}

/** Stops what serviceOnFreshDatabase started (either may be missing if setup failed). */
export async function closeService(server: Pgfeed | undefined, db: TestDatabase | undefined): Promise<void> {
  await server?.close();
  await db?.drop();
}

/**
 * Resolves once everything committed so far in `sql`'s database is in the log.
 * At once with trigger capture (events are written at commit); with wal capture,
 * once the capturer has applied a marker committed now.
 */
export async function captured(sql: Sql, timeoutMs = 20_000): Promise<void> {
  if (TEST_CAPTURE === 'wal') await walCaptured(sql, timeoutMs);
}

/** Resolves once the WAL capturer has appended everything committed so far (whatever TEST_CAPTURE says; the bench uses it too). */
export async function walCaptured(sql: Sql, timeoutMs = 20_000): Promise<void> {
  const [mark] = await sql<{ lsn: string }[]>`select pg_logical_emit_message(true, ${SYNC_PREFIX}, '')::text as lsn`;
  await eventually(
    async () => {
      const [r] = await sql<{ done: boolean }[]>`select applied_lsn >= ${mark!.lsn}::pg_lsn as done from pgfeed.capture`;
      return r?.done === true;
    },
    { timeoutMs, what: 'capture of everything committed' },
  );
}

/**
 * A test file's world for services that each need their own settings: a
 * fresh database with two companies (from beforeAll on), `start(config)` for
 * a service on it, and after the file every service stopped and the database
 * dropped.
 */
export function fleetOnFreshDatabase(): { readonly db: TestDatabase; start(config?: ConfigInput): Promise<Pgfeed> } {
  let db: TestDatabase | undefined;
  const running: Pgfeed[] = [];
  const ready = (): TestDatabase => {
    if (!db) throw new Error('fleetOnFreshDatabase: the database exists from beforeAll on');
    return db;
  };
  beforeAll(async () => {
    db = await freshDatabase();
    await seedTwoCompanies(db.sql);
  });
  afterAll(async () => {
    await Promise.all(running.map((s) => s.close()));
    await db?.drop();
  });
  return {
    get db() {
      return ready();
    },
    async start(config: ConfigInput = {}) {
      const s = await startService(ready().url, config);
      running.push(s);
      return s;
    },
  };
}

/** The demo domain with a logger that keeps every JSON line it writes in `lines` (for tests of what is logged). */
export function capturingLogs(level: LogLevel = 'info'): {
  lines: string[];
  options: Pick<PgfeedOptions, 'entities' | 'routes' | 'logger' | 'authorize'>;
} {
  const lines: string[] = [];
  return { lines, options: { ...domain, logger: createLogger(level, { write: (line: string) => void lines.push(line) }) } };
}
