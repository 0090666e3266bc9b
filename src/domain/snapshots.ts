import type { Sql } from '../db/connect';
import { rowsOf, utc } from './rows';

export const SNAPSHOT_KINDS = ['trips', 'bookings', 'stock', 'checkouts'] as const;
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];

export interface Snapshot {
  items: Record<string, unknown>[];
  /** Subscribe from here to get every change not reflected in `items`. */
  lastEventId: string;
}

/**
 * One company's rows and the log position they reflect, read in one
 * REPEATABLE READ snapshot. Ids are drawn in commit order, so every event at
 * or below the newest visible id is already in `items` and every later one
 * is not (docs/ordering.md).
 */
export async function readSnapshot(sql: Sql, companyId: string, kind: SnapshotKind): Promise<Snapshot> {
  return sql.begin('isolation level repeatable read read only', async (tx) => {
    await utc(tx);
    const rows =
      kind === 'trips'
        ? await tx`select to_jsonb(t) as row from trips t where company_id = ${companyId} order by departs_at, id`
        : kind === 'bookings'
          ? await tx`select to_jsonb(b) as row from bookings b where company_id = ${companyId} order by created_at, id`
          : kind === 'stock'
            ? await tx`select to_jsonb(s) as row from stock_items s where company_id = ${companyId} order by sku, id`
            : await tx`select to_jsonb(c) as row from checkouts c where company_id = ${companyId} order by checked_out_at, id`;
    const [head] = await tx<{ id: string }[]>`
      select coalesce((select max(id) from pgfeed.events), (select pruned_through from pgfeed.horizon))::text as id`;
    return { items: rowsOf(rows as unknown as { row: Record<string, unknown> }[]), lastEventId: head?.id ?? '0' };
  });
}
