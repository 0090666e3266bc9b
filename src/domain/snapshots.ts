import type { TransactionSql } from 'postgres';
import type { Sql } from '../db/connect';
import { rowsOf, utc } from './rows';

export const SNAPSHOT_KINDS = ['trips', 'bookings', 'stock', 'checkouts'] as const;
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];

export interface Snapshot {
  items: Record<string, unknown>[];
  /** Subscribe from here to get every change not reflected in `items`. */
  lastEventId: string;
}

const QUERIES: Record<SnapshotKind, (tx: TransactionSql, companyId: string) => Promise<unknown>> = {
  trips: (tx, c) => tx`select to_jsonb(t) as row from trips t where company_id = ${c} order by departs_at, id`,
  bookings: (tx, c) => tx`select to_jsonb(b) as row from bookings b where company_id = ${c} order by created_at, id`,
  stock: (tx, c) => tx`select to_jsonb(s) as row from stock_items s where company_id = ${c} order by sku, id`,
  checkouts: (tx, c) => tx`select to_jsonb(k) as row from checkouts k where company_id = ${c} order by checked_out_at, id`,
};

/**
 * One company's rows of each kind and the log position they reflect, read in
 * one REPEATABLE READ snapshot. Ids are drawn in commit order, so every event
 * at or below the newest visible id is already in the rows and every later
 * one is not (docs/ordering.md).
 */
export async function readSnapshots<K extends SnapshotKind>(
  sql: Sql,
  companyId: string,
  kinds: readonly K[],
): Promise<{ items: Record<K, Record<string, unknown>[]>; lastEventId: string }> {
  return sql.begin('isolation level repeatable read read only', async (tx) => {
    await utc(tx);
    const items = {} as Record<K, Record<string, unknown>[]>;
    for (const kind of kinds) items[kind] = rowsOf((await QUERIES[kind](tx, companyId)) as { row: Record<string, unknown> }[]);
    const [head] = await tx<{ id: string }[]>`
      select coalesce((select max(id) from pgfeed.events), (select pruned_through from pgfeed.horizon))::text as id`;
    return { items, lastEventId: head?.id ?? '0' };
  });
}

/** One kind: `{ items, lastEventId }` as GET /api/companies/:id/:kind answers. */
export async function readSnapshot(sql: Sql, companyId: string, kind: SnapshotKind): Promise<Snapshot> {
  const { items, lastEventId } = await readSnapshots(sql, companyId, [kind]);
  return { items: items[kind], lastEventId };
}
