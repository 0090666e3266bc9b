import type { Sql } from '../../db/connect';
import type { Position } from '../../events/position';
import { type Relation, formatLsn, parseLsn } from './pgoutput';

/** One decoded row change (or a table's TRUNCATE), its place in the WAL and its rows (pgoutput.rowValues). */
export interface Change {
  /** Commit LSN of its transaction, and its number (1, 2, ...) within it. */
  lsn: bigint;
  seq: number;
  /** The description pgoutput sent for this change: its rows are read by it, not by the table's current definition. */
  relation: Relation;
  op: 'insert' | 'update' | 'delete' | 'truncate';
  newRow: string | null;
  oldRow: string | null;
  committedAt: Date;
}

/** A position in the slot's stream: every change up to (lsn, seq) is applied; seq ALL: the whole transaction. */
export interface WalPosition {
  lsn: bigint;
  seq: number;
}
export const ALL = 2_147_483_647;

export const after = (a: WalPosition, b: WalPosition) => a.lsn > b.lsn || (a.lsn === b.lsn && a.seq > b.seq);

/** Where the log says the capturer has got to. */
export async function appliedPosition(sql: Sql): Promise<WalPosition> {
  const [r] = await sql<
    { lsn: string; seq: number }[]
  >`select applied_lsn::text as lsn, applied_seq as seq from pgfeed.capture_state`;
  return { lsn: parseLsn(r?.lsn ?? '0/0'), seq: r?.seq ?? 0 };
}

/** What an append wrote: the newest id (null: nothing), and the events when asked for. */
export interface Appended {
  lastId: Position | null;
  /** The events as pgfeed.event_json writes them, in id order (null: not asked for, or none written). */
  events: unknown[] | null;
}

/**
 * Appends a batch in one transaction (pgfeed.wal_append_events: skip what the
 * log holds, ids in order, events, applied position, one NOTIFY).
 * `withEvents`: hand back the events written, for this instance's own listener.
 */
export async function append(
  sql: Sql,
  changes: readonly Change[],
  done: WalPosition,
  doneAt: Date | null,
  withEvents: boolean,
): Promise<Appended> {
  const col = <T>(f: (c: Change) => T) => changes.map(f);
  // Each relation description once; a change names its own by number (1, 2, ...).
  const shapes = new Map<Relation, number>();
  for (const c of changes) if (!shapes.has(c.relation)) shapes.set(c.relation, shapes.size + 1);
  const columns = JSON.stringify([...shapes.keys()].map((r) => r.columns.map((c) => [c.name, c.type, c.typmod])));
  const [r] = await sql<{ id: string | null; events: string | null }[]>`
    select a.last_id::text as id, a.appended as events from pgfeed.wal_append_events(
      ${sql.array(col((c) => formatLsn(c.lsn)))}::text[]::pg_lsn[],
      ${sql.array(col((c) => String(c.seq)))}::text[]::int[],
      ${sql.array(col((c) => String(c.relation.id)))}::text[]::oid[],
      ${sql.array(col((c) => String(shapes.get(c.relation))))}::text[]::int[],
      ${sql.array(col((c) => c.op))}::text[],
      ${sql.array(col((c) => c.newRow))}::text[],
      ${sql.array(col((c) => c.oldRow))}::text[],
      ${sql.array(col((c) => c.committedAt.toISOString()))}::text[]::timestamptz[],
      ${columns}::text::jsonb,
      ${formatLsn(done.lsn)}::pg_lsn, ${done.seq}::int, ${doneAt?.toISOString() ?? null}::timestamptz, ${withEvents}
    ) a`;
  return {
    lastId: r?.id == null ? null : BigInt(r.id),
    events: r?.events == null ? null : (JSON.parse(r.events) as unknown[]),
  };
}
