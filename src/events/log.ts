import type { Sql } from '../db/connect';
import { toChangeEvent } from './decode';
import type { ChangeEvent } from './schema';

/** The position after which nothing is known: the newest event id, or the prune horizon when empty. */
export async function logHead(sql: Sql): Promise<bigint> {
  const [r] = await sql<{ head: string }[]>`
    select coalesce((select max(id) from pgfeed.events), (select pruned_through from pgfeed.horizon))::text as head`;
  return BigInt(r?.head ?? '0');
}

/** Events after `after` in id order (= commit order), optionally one company's, at most `limit`. */
export async function readAfter(sql: Sql, after: bigint, limit: number, companyId?: string | null): Promise<ChangeEvent[]> {
  const rows =
    companyId === undefined
      ? await sql<{ e: unknown }[]>`
          select pgfeed.event_json(e) as e from pgfeed.events e
           where e.id > ${after.toString()}::bigint order by e.id limit ${limit}`
      : await sql<{ e: unknown }[]>`
          select pgfeed.event_json(e) as e from pgfeed.events e
           where e.company_id = ${companyId} and e.id > ${after.toString()}::bigint order by e.id limit ${limit}`;
  return rows.map((r) => toChangeEvent(r.e));
}

/** One event by id (for NOTIFY payloads that were too large to carry it). */
export async function readEvent(sql: Sql, id: bigint): Promise<ChangeEvent | undefined> {
  const [r] = await sql<
    { e: unknown }[]
  >`select pgfeed.event_json(e) as e from pgfeed.events e where e.id = ${id.toString()}::bigint`;
  return r ? toChangeEvent(r.e) : undefined;
}

export type PositionStatus = 'ok' | 'expired' | 'unknown';

/**
 * Whether a resume from `seq` can be answered from the log: it must be an
 * event id the log holds, or exactly the prune horizon. Older is expired.
 */
export async function positionStatus(sql: Sql, seq: bigint): Promise<PositionStatus> {
  const [r] = await sql<{ known: boolean; floor: string }[]>`
    select exists (select 1 from pgfeed.events where id = ${seq.toString()}::bigint) as known,
           (select pruned_through from pgfeed.horizon)::text as floor`;
  if (!r) return 'unknown';
  if (r.known || seq === BigInt(r.floor)) return 'ok';
  return seq < BigInt(r.floor) ? 'expired' : 'unknown';
}

/**
 * Deletes events older than `retentionMs`, in batches so writers never wait
 * on it, and moves the horizon in the same transaction as each batch.
 * Returns how many were deleted.
 */
export async function pruneLog(sql: Sql, retentionMs: number, batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await sql.begin(async (tx) => {
      const rows = await tx<{ id: string }[]>`
        delete from pgfeed.events where id in (
          select id from pgfeed.events
           where committed_at < now() - ${retentionMs} * interval '1 millisecond'
           order by id limit ${batch}
        ) returning id::text`;
      if (rows.length === 0) return 0;
      const max = rows.reduce((m, r) => (BigInt(r.id) > m ? BigInt(r.id) : m), 0n);
      await tx`update pgfeed.horizon set pruned_through = greatest(pruned_through, ${max.toString()}::bigint)`;
      return rows.length;
    });
    total += deleted;
    if (deleted < batch) return total;
  }
}
