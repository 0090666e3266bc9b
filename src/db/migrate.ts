import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Sql } from './connect';
import { FEED_SCHEMA, MIGRATIONS_TABLE, MIGRATION_LOCK_KEY } from '../names';

export interface Migration {
  id: number;
  name: string;
  text: string;
}

/** A folder of `NNNNNN_name.sql` files and the table that records which were applied. */
export interface MigrationSet {
  dir: string;
  table: { schema: string; name: string };
}

/** pgfeed's own migrations (sql/ beside src/ or dist/): they create and change only the `pgfeed` schema. */
export function feedMigrations(): MigrationSet {
  const dir = path.resolve(__dirname, '..', '..', 'sql');
  if (!existsSync(path.join(dir, '000001_pgfeed.sql'))) throw new Error(`pgfeed: the sql/ folder is missing (looked in ${dir})`);
  return { dir, table: { schema: FEED_SCHEMA, name: MIGRATIONS_TABLE } };
}

/** Reads `NNNNNN_name.sql` files in id order. */
export async function readMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{6}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      id: Number(file.slice(0, 6)),
      name: file.replace(/\.sql$/, ''),
      text: await readFile(path.join(dir, file), 'utf8'),
    })),
  );
}

/** The database was migrated by other code than this: newer, or a development build whose history was rewritten. */
export class MigrationMismatchError extends Error {
  override name = 'MigrationMismatchError';
}

/**
 * Applies every migration of `set` not yet recorded, each in its own
 * transaction that also records its id. The transaction-level advisory lock
 * makes instances that start at once take turns; each re-reads what is
 * applied after taking it. Refuses a database that records a migration this
 * code does not have. Returns the names applied by this call.
 */
export async function migrate(sql: Sql, set: MigrationSet = feedMigrations()): Promise<string[]> {
  const all = await readMigrations(set.dir);
  const table = sql(set.table.schema + '.' + set.table.name);
  const applied: string[] = [];
  for (const m of all) {
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      await tx`create schema if not exists ${sql(set.table.schema)}`;
      await tx`
        create table if not exists ${table} (
          id int primary key, name text not null, applied_at timestamptz not null default now()
        )`;
      const recorded = await tx<{ id: number; name: string }[]>`select id, name from ${table} order by id`;
      const foreign = recorded.filter((r) => !all.some((k) => k.id === r.id && k.name === r.name));
      if (foreign.length > 0) {
        throw new MigrationMismatchError(
          `${set.table.schema}.${set.table.name} records migrations this code does not have (${foreign.map((f) => f.name).join(', ')}): ` +
            'the database was migrated by a newer pgfeed, or by a development build of 0.2 before its migrations were folded into ' +
            '000001_pgfeed; use that version, or recreate the database',
        );
      }
      if (recorded.some((r) => r.id === m.id)) return;
      await tx.unsafe(m.text);
      await tx`insert into ${table} (id, name) values (${m.id}, ${m.name})`;
      applied.push(m.name);
    });
  }
  return applied;
}
