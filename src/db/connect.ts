import type Postgres from 'postgres';
import { postgres } from './driver';
import { POOL_APPLICATION_NAME } from '../names';

export type Sql = Postgres.Sql;

/** The query pool. The listener does not use it: it owns a connection of its own. */
export function connect(url: string, options: { max?: number; applicationName?: string; onQuery?: () => void } = {}): Sql {
  const { onQuery } = options;
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // postgres.js's default backoff (0.5–1 × 3^n / 100 s, up to 20 s) counts failed connects across
    // the whole pool: a PostgreSQL restart fails every pooled connection at once, and requests then
    // waited up to 20 s after the server was back. Retry within a second instead; a request that
    // finds the server still down fails fast and is answered 503.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2),
    // postgres.js calls `debug` once per query sent: the count behind pgfeed_db_queries_total.
    ...(onQuery ? { debug: () => onQuery() } : {}),
    connection: { application_name: options.applicationName ?? POOL_APPLICATION_NAME },
  });
}
