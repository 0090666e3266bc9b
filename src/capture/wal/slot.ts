import type { Sql } from '../../db/connect';

/** SQLSTATEs the capturer tells apart (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const PG_OBJECT_IN_USE = '55006';
export const PG_DUPLICATE_OBJECT = '42710';
export const PG_UNDEFINED_OBJECT = '42704';

/** CAPTURE=wal cannot run here: the one line the service stops with. */
export class CaptureSetupError extends Error {
  override name = 'CaptureSetupError';
}

/** The default slot name: one slot per database, so several pgfeed databases share a server. */
export function defaultSlotName(databaseUrl: string): string {
  const db = decodeURIComponent(new URL(databaseUrl).pathname.slice(1) || 'postgres');
  return `pgfeed_${db.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** Stops with a clear message when the server or the user cannot do logical replication. */
export async function checkPrerequisites(sql: Sql): Promise<void> {
  const [r] = await sql<{ wal_level: string; replication: boolean }[]>`
    select current_setting('wal_level') as wal_level,
           (select rolreplication or rolsuper from pg_roles where rolname = current_user) as replication`;
  if (r?.wal_level !== 'logical') {
    throw new CaptureSetupError(
      `CAPTURE=wal needs wal_level=logical, but the server has wal_level=${r?.wal_level ?? '?'}: ` +
        'set it in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL, or use CAPTURE=trigger',
    );
  }
  if (!r.replication) {
    throw new CaptureSetupError(
      'CAPTURE=wal needs a user with the REPLICATION attribute (ALTER ROLE <user> REPLICATION), or use CAPTURE=trigger',
    );
  }
}

export type SlotState = 'missing' | 'ok' | 'lost';

/** Whether the slot exists and can still stream (PostgreSQL invalidates it past max_slot_wal_keep_size). */
export async function slotState(sql: Sql, slot: string): Promise<SlotState> {
  const [r] = await sql<{ wal_status: string | null }[]>`
    select wal_status from pg_replication_slots where slot_name = ${slot}`;
  if (!r) return 'missing';
  return r.wal_status === 'lost' ? 'lost' : 'ok';
}

/**
 * Creates the publication (empty; pgfeed.watch adds tables) and then the slot,
 * in that order: pgoutput looks the publication up as of each decoded change,
 * and fails on changes older than the publication. Returns true when this
 * call created the slot; another instance creating it at the same time is fine.
 */
export async function ensureSlot(sql: Sql, slot: string): Promise<boolean> {
  const [p] = await sql<{ name: string }[]>`select pgfeed.publication() as name`;
  const publication = p!.name;
  try {
    await sql`create publication ${sql(publication)}`;
  } catch (error) {
    if ((error as { code?: string }).code !== PG_DUPLICATE_OBJECT) throw error;
  }
  if ((await slotState(sql, slot)) !== 'missing') return false;
  try {
    await sql`select pg_create_logical_replication_slot(${slot}, 'pgoutput')`;
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === PG_DUPLICATE_OBJECT) return false;
    throw error;
  }
}

/**
 * Drops the slot (it keeps WAL on the server for as long as it exists).
 * Ends the walsender holding it first. Returns false when there was none.
 */
export async function dropSlot(sql: Sql, slot: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    await sql`select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = ${slot} and active`;
    try {
      const [r] = await sql<{ n: number }[]>`
        select count(pg_drop_replication_slot(slot_name))::int as n from pg_replication_slots where slot_name = ${slot}`;
      return (r?.n ?? 0) > 0;
    } catch (error) {
      // The terminated walsender may still hold it for a moment.
      if ((error as { code?: string }).code !== PG_OBJECT_IN_USE || attempt >= 50) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** WAL the slot still holds for pgfeed: bytes between the server's current position and what the capturer confirmed. */
export async function slotLagBytes(sql: Sql, slot: string): Promise<number> {
  const [r] = await sql<{ lag: string | null }[]>`
    select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text as lag
      from pg_replication_slots where slot_name = ${slot}`;
  return r?.lag == null ? 0 : Math.max(0, Number(r.lag));
}

/** Seconds since the newest transaction the capturer applied committed (heartbeats included); 0 before the first. */
export async function captureBehindSeconds(sql: Sql): Promise<number> {
  const [r] = await sql<{ s: number | null }[]>`
    select extract(epoch from now() - applied_at)::float8 as s from pgfeed.capture_state`;
  return Math.max(0, r?.s ?? 0);
}
