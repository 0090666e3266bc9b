import type { TransactionSql } from 'postgres';
import type { RouteContext } from '../index';
import { rowsOf } from './rows';

type Row = Record<string, unknown>;

/**
 * The domain's tables as the API names them: the entity, the table, the
 * snapshot path (`/api/companies/:id/<path>`) and the order items come in.
 */
export const TABLES = {
  trip: { table: 'trips', path: 'trips', order: ['departs_at', 'id'] },
  booking: { table: 'bookings', path: 'bookings', order: ['created_at', 'id'] },
  stock: { table: 'stock_items', path: 'stock', order: ['sku', 'id'] },
  checkout: { table: 'checkouts', path: 'checkouts', order: ['checked_out_at', 'id'] },
} as const;
export type TableEntity = keyof typeof TABLES;

export const SNAPSHOT_PATHS = Object.values(TABLES).map((t) => t.path);
export type SnapshotPath = (typeof TABLES)[TableEntity]['path'];

/** The entity whose snapshot `path` names. */
export function entityOfPath(path: string): TableEntity | undefined {
  return (Object.keys(TABLES) as TableEntity[]).find((e) => TABLES[e].path === path);
}

async function rowsOfCompany(tx: TransactionSql, entity: TableEntity, companyId: string, newest?: number): Promise<Row[]> {
  const { table, order } = TABLES[entity];
  if (newest !== undefined) {
    const [first, second] = order;
    return rowsOf(
      await tx<{ row: Row }[]>`
        select to_jsonb(t) as row from ${tx(table)} t where company_id = ${companyId}
         order by ${tx(first)} desc, ${tx(second)} desc limit ${newest}`,
    );
  }
  return rowsOf(
    await tx<{ row: Row }[]>`
      select to_jsonb(t) as row from ${tx(table)} t where company_id = ${companyId} order by ${tx(order as unknown as string[])}`,
  );
}

/**
 * One company's rows of each entity and the log position they reflect, from one
 * snapshot. An entity given in `newest` comes newest first, at most that many rows.
 */
export async function readSnapshots<E extends TableEntity>(
  ctx: Pick<RouteContext, 'snapshot'>,
  companyId: string,
  entities: readonly E[],
  newest: Partial<Record<E, number>> = {},
): Promise<{ items: Record<E, Row[]>; lastEventId: string }> {
  const { result, lastEventId } = await ctx.snapshot(async (tx) => {
    const items = {} as Record<E, Row[]>;
    for (const e of entities) items[e] = await rowsOfCompany(tx, e, companyId, newest[e]);
    return items;
  });
  return { items: result, lastEventId };
}
