import { randomBytes } from 'node:crypto';
import { connect, type Sql } from '../../src/db/connect';

/** `url` with its database name replaced. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDatabase {
  url: string;
  /** A pool on the database, as "another application" would use it. */
  sql: Sql;
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file (a clone of the template made in global setup). */
export function freshDatabase(): Promise<TestDatabase> {
  const template = process.env.PGFEED_TEST_TEMPLATE;
  if (!template) throw new Error('test database server not set up (jest globalSetup)');
  return createDatabase(template);
}

/** A database with nothing in it, for tests of what pgfeed itself creates. */
export function emptyDatabase(): Promise<TestDatabase> {
  return createDatabase('template0');
}

/**
 * An empty database for the tests of the enclosing `describe` (or file):
 * created before them (the first beforeAll), dropped after them.
 */
export function emptyDatabaseHere(): TestDatabase {
  let db: TestDatabase | undefined;
  const ready = (): TestDatabase => {
    if (!db) throw new Error('emptyDatabaseHere: the database exists from beforeAll on');
    return db;
  };
  beforeAll(async () => {
    db = await emptyDatabase();
  });
  afterAll(async () => db?.drop());
  return {
    get url() {
      return ready().url;
    },
    get sql() {
      return ready().sql;
    },
    drop: () => ready().drop(),
  };
}

async function createDatabase(template: string): Promise<TestDatabase> {
  const adminUrl = process.env.PGFEED_TEST_ADMIN_URL;
  const ours = process.env.PGFEED_TEST_TEMPLATE;
  if (!adminUrl || !ours) throw new Error('test database server not set up (jest globalSetup)');
  // The template's owning worker pid is in its name; ours in this one, so teardown finds leftovers.
  const name = `pgfeed_t_${ours.split('_').at(-1)}_${randomBytes(6).toString('hex')}`;
  const admin = connect(adminUrl, { max: 1 });
  try {
    await admin.unsafe(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, name);
  const sql = connect(url, { max: 4, applicationName: 'test-writer' });
  return {
    url,
    sql,
    drop: async () => {
      await sql.end({ timeout: 5 });
      const a = connect(adminUrl, { max: 1 });
      // A database with a replication slot (CAPTURE=wal) cannot be dropped.
      await a`select pg_terminate_backend(active_pid) from pg_replication_slots where database = ${name} and active`;
      for (let attempt = 0; ; attempt++) {
        try {
          await a`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = ${name}`;
          break;
        } catch (error) {
          if (attempt > 50) throw error;
          await new Promise((r) => setTimeout(r, 100)); // the terminated walsender still holds it
        }
      }
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}
