import { startPgfeed, type PgfeedServer } from '../../src/server';
import type { Config } from '../../src/config';
import type { Role } from '../../src/http/auth';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A pgfeed on a free port against `databaseUrl`, quiet unless PGFEED_TEST_LOG is set. */
export async function startService(databaseUrl: string, config: Partial<Config> = {}): Promise<PgfeedServer> {
  return startPgfeed({
    databaseUrl,
    port: 0,
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
