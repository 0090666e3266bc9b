import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { connect, type Sql } from '../../src/db/connect';
import { migrate } from '../../src/db/migrate';
import { domainMigrations } from '../../src/domain';
import { databaseUrl } from './db';
import { seedTwoCompanies } from './fixtures';
import { freePort } from './toolkit';

/**
 * A PostgreSQL server of one test file's own (embedded, in a child process,
 * support/embedded-child.ts), so the test can stop and start it whatever
 * server the rest of the suite uses. Its database `feed` is migrated and
 * seeded with two companies.
 */
export interface RestartableDatabase {
  /** URL of the database `feed`. */
  url: string;
  /** A pool on it, as another application would use it. */
  sql: Sql;
  /** Stops the server (fast or immediate shutdown) or starts it again; rejects with the child's error. */
  ask(cmd: 'stop' | 'stop:fast' | 'stop:immediate' | 'start'): Promise<void>;
  /** Closes the pool and ends the child (and its server). */
  close(): Promise<void>;
}

export async function restartableDatabase(): Promise<RestartableDatabase> {
  const child: ChildProcess = fork(path.join(__dirname, 'embedded-child.ts'), [String(await freePort())], {
    execArgv: ['--import', 'tsx'],
  });
  const { url: adminUrl } = await new Promise<{ url: string }>((resolve) => child.once('message', resolve));
  const admin = connect(adminUrl, { max: 1 });
  await admin`create database feed`;
  await admin.end();
  const url = databaseUrl(adminUrl, 'feed');
  const sql = connect(url, { max: 2 });
  await migrate(sql);
  await migrate(sql, domainMigrations());
  await seedTwoCompanies(sql);
  return {
    url,
    sql,
    ask: (cmd) =>
      new Promise((resolve, reject) => {
        child.once('message', (m: { error?: string }) => (m.error ? reject(new Error(`${cmd}: ${m.error}`)) : resolve()));
        child.send(cmd);
      }),
    close: async () => {
      await sql.end({ timeout: 1 });
      if (!child.connected) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('exit');
      await exited;
    },
  };
}
