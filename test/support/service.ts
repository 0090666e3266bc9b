import { startPgfeed, type PgfeedServer } from '../../src/server';
import type { Config } from '../../src/config';
import type { Role } from '../../src/http/auth';
import { freshDatabase, type TestDatabase } from './db';
import { seedTwoCompanies } from './fixtures';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A pgfeed on a free port against `databaseUrl`, quiet unless PGFEED_TEST_LOG is set. */
export async function startService(databaseUrl: string, config: Partial<Config> = {}): Promise<PgfeedServer> {
  return startPgfeed({
    databaseUrl,
    port: config.PORT ?? 0,
    host: '127.0.0.1',
    jwtSecret: TEST_JWT_SECRET,
    log: (process.env.PGFEED_TEST_LOG as Config['LOG_LEVEL'] | undefined) ?? 'silent',
    config: { LISTENER_PING_MS: 500, ...config },
  });
}

/** A token signed with the service's secret. */
export function tokenFor(server: PgfeedServer, sub: string, company: string, role: Role, ttlSeconds = 3600): Promise<string> {
  return server.auth.sign({ sub, company, role }, ttlSeconds);
}

/** Resolves once `server`'s listener has delivered everything committed so far (event-driven, no polling). */
export async function caughtUp(server: PgfeedServer, timeoutMs = 10_000): Promise<void> {
  const [row] = await server.sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from pgfeed.events`;
  const target = BigInt(row?.id ?? '0');
  if (server.listener.cursor >= target) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      server.listener.off('event', check);
      reject(new Error(`listener did not reach event ${target} in ${timeoutMs} ms (at ${server.listener.cursor})`));
    }, timeoutMs);
    const check = () => {
      if (server.listener.cursor < target) return;
      clearTimeout(timer);
      server.listener.off('event', check);
      resolve();
    };
    server.listener.on('event', check);
  });
}

/**
 * A test file's usual world: a fresh database with two companies (plus `seed`),
 * and a pgfeed on it. Pair with `closeService` in afterAll.
 */
export async function serviceOnFreshDatabase(
  options: { config?: Partial<Config>; seed?: (sql: TestDatabase['sql']) => Promise<unknown> } = {},
): Promise<{ db: TestDatabase; server: PgfeedServer }> {
  const db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  await options.seed?.(db.sql);
  return { db, server: await startService(db.url, options.config) };
}

/** Stops what serviceOnFreshDatabase started (either may be missing if setup failed). */
export async function closeService(server: PgfeedServer | undefined, db: TestDatabase | undefined): Promise<void> {
  await server?.close();
  await db?.drop();
}
