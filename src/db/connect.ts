import postgres from 'postgres';
import { POOL_APPLICATION_NAME } from '../names';

export type Sql = postgres.Sql;

/** The query pool. The listener does not use it: it owns a connection of its own. */
export function connect(url: string, options: { max?: number; applicationName?: string } = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? POOL_APPLICATION_NAME },
  });
}
