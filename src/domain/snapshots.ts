import type { TransactionSql } from 'postgres';
import { AppError, type RouteContext } from '../index';
import { PAGE_ROWS } from './pages/lists';
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
      select to_jsonb(t) as row from ${tx(table)} t where company_id = ${companyId}
       order by ${tx(order as unknown as string[])} limit ${PAGE_ROWS + 1}`,
  );
}

/**
 * One company's rows of each entity and the log position they reflect, from one
 * snapshot: at most PAGE_ROWS of each (`more` says when there were more), or,
 * for an entity given in `newest`, that many rows newest first.
 */
export async function readSnapshots<E extends TableEntity>(
  ctx: Pick<RouteContext, 'snapshot'>,
  companyId: string,
  entities: readonly E[],
  newest: Partial<Record<E, number>> = {},
): Promise<{ items: Record<E, Row[]>; more: Record<E, boolean>; lastEventId: string }> {
  const { result, lastEventId } = await ctx.snapshot(async (tx) => {
    const items = {} as Record<E, Row[]>;
    const more = {} as Record<E, boolean>;
    for (const e of entities) {
      const rows = await rowsOfCompany(tx, e, companyId, newest[e]);
      more[e] = rows.length > PAGE_ROWS;
      items[e] = rows.slice(0, PAGE_ROWS);
    }
    return { items, more };
  });
  return { ...result, lastEventId };
}

/** A page of one company's rows of an entity: the rows after the cursor, in the entity's order. */
export interface SnapshotPage {
  items: Row[];
  /** Subscribe from here to get every change not reflected in `items`. */
  lastEventId: string;
  /** The cursor of the next page (`?after=`), or null on the last page. */
  next: string | null;
}

/**
 * Keyset pagination: `after` carries the order columns of the previous page's
 * last row, so a page is one index range read however deep it is. Each page
 * is its own snapshot with its own exact lastEventId; subscribing from the
 * first page's and applying whole rows converges on the final state.
 */
export async function readPage(
  ctx: Pick<RouteContext, 'snapshot'>,
  companyId: string,
  entity: TableEntity,
  page: { limit: number; after?: string },
): Promise<SnapshotPage> {
  const { table, order } = TABLES[entity];
  const columns = order as unknown as string[];
  const after = page.after === undefined ? undefined : decodeCursor(page.after, columns);
  const { result, lastEventId } = await ctx.snapshot(
    (tx) => tx<{ row: Row }[]>`
      select to_jsonb(t) as row from ${tx(table)} t
       where company_id = ${companyId}
       ${after ? tx`and (${tx(columns)}) > (select ${tx(columns)} from jsonb_populate_record(null::${tx(table)}, ${tx.json(after)}))` : tx``}
       order by ${tx(columns)} limit ${page.limit + 1}`,
  );
  const rows = result.slice(0, page.limit);
  const last = rows.at(-1)?.row;
  const next = result.length > page.limit && last ? encodeCursor(Object.fromEntries(columns.map((c) => [c, last[c]]))) : null;
  return { items: rowsOf(rows), lastEventId, next };
}

function encodeCursor(values: Row): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

/** The cursor's order-column values; a 400 when it is not one of ours. */
function decodeCursor(cursor: string, columns: string[]): Record<string, string | number> {
  const invalid = () => new AppError('invalid_query', 'query parameter after: must be the `next` cursor of a previous page');
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof values !== 'object' || values === null || Array.isArray(values)) throw invalid();
  const keys = Object.keys(values);
  const scalar = (v: unknown) => typeof v === 'string' || typeof v === 'number';
  if (keys.length !== columns.length || !columns.every((c) => scalar((values as Row)[c]))) throw invalid();
  return values as Record<string, string | number>;
}
