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

/** The package's sql/ folder, found upwards from this file (works from src/ and dist/src/). */
export function sqlDir(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'sql', '000001_feed.sql'))) return path.join(dir, 'sql');
  }
  throw new Error('pgfeed: cannot find the sql/ folder');
}

/** Reads `NNNNNN_name.sql` files in id order. */
export async function readMigrations(dir = sqlDir()): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{6}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      id: Number(file.slice(0, 6)),
      name: file.replace(/\.sql$/, ''),
      text: await readFile(path.join(dir, file), 'utf8'),
    })),
  );
}

/**
 * Applies every migration not yet recorded, each in its own transaction that
 * also records its id. The transaction-level advisory lock makes instances that
 * start at once take turns; each re-reads what is applied after taking it.
 * Returns the names applied by this call.
 */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await readMigrations());
  const applied: string[] = [];
  for (const m of all) {
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      await tx`create schema if not exists ${tx(FEED_SCHEMA)}`;
      await tx`
        create table if not exists ${tx(FEED_SCHEMA)}.${tx(MIGRATIONS_TABLE)} (
          id int primary key, name text not null, applied_at timestamptz not null default now()
        )`;
      const [done] = await tx`select 1 from ${tx(FEED_SCHEMA)}.${tx(MIGRATIONS_TABLE)} where id = ${m.id}`;
      if (done) return;
      await tx.unsafe(m.text);
      await tx`insert into ${tx(FEED_SCHEMA)}.${tx(MIGRATIONS_TABLE)} (id, name) values (${m.id}, ${m.name})`;
      applied.push(m.name);
    });
  }
  return applied;
}
