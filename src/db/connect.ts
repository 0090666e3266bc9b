import postgres from 'postgres';
import { POOL_APPLICATION_NAME } from '../names';

export type Sql = postgres.Sql;

/** The query pool. The listener does not use it: it owns a connection of its own. */
export function connect(url: string, options: { max?: number; applicationName?: string; onQuery?: () => void } = {}): Sql {
  const { onQuery } = options;
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // postgres.js calls `debug` once per query sent: the count behind pgfeed_db_queries_total.
    ...(onQuery ? { debug: () => onQuery() } : {}),
    connection: { application_name: options.applicationName ?? POOL_APPLICATION_NAME },
  });
}
