import type postgres from 'postgres';
import { z } from 'zod';
import type { Sql } from '../db/connect';
import { AppError } from '../errors';
import { type Condition, type Scope, rowMatches } from '../streams/filter';
import type { CatalogEntity, EntityCatalog } from './catalog';
import { camelKeys } from './decode';
import type { EntityRegistry } from './entity';
import { logHead } from './log';
import { formatPosition } from './position';
import { changeEvent, positionText } from './schema';

type Row = Record<string, unknown>;

/**
 * Runs `read` in one REPEATABLE READ, read-only transaction (TimeZone UTC,
 * as the capture writes rows) and returns what it read with the log position
 * it reflects. Ids are drawn in commit order, so the newest id visible to the
 * snapshot is exactly what it reflects: subscribing from `lastEventId`
 * delivers exactly the changes not yet in it.
 */
export async function snapshot<T>(
  sql: Sql,
  read: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<{ result: T; lastEventId: string }> {
  let out: { result: T; lastEventId: string } | undefined;
  await sql.begin('isolation level repeatable read read only', async (tx) => {
    await tx`set local timezone = 'UTC'`;
    const result = await read(tx);
    out = { result, lastEventId: formatPosition(await logHead(tx)) };
  });
  return out!;
}

/** One row of a snapshot page: what a stream event of the same scope says of it (`row` as the event's). */
export const snapshotItem = changeEvent.pick({ entity: true, key: true, companyId: true, userId: true, row: true }).extend({
  companyId: z.string(),
});
export type SnapshotItem = z.infer<typeof snapshotItem>;

/** A page of a snapshot (GET /snapshots/...). */
export const snapshotPage = z.object({
  items: z.array(snapshotItem),
  lastEventId: positionText.describe('The log position the page reflects: subscribe from it for every change not in `items`.'),
  next: z.string().nullable().describe('The cursor of the next page (`after`), or null on the last page.'),
});
export type SnapshotPage = z.infer<typeof snapshotPage>;

export interface PageRequest {
  scope: Scope;
  /** Sorted by name. */
  entities: CatalogEntity[];
  keys?: string[];
  where: readonly Condition[];
  limit: number;
  after?: string;
}

/** Rows read per query while filling a page: filters are evaluated on the row here, as streams do. */
const CHUNK = 500;

/**
 * A page of the rows a scope may see, ordered by (entity, key) with keys in
 * byte (code point) order — the order `pgfeed/client` compares keys in — read
 * in one snapshot with its exact lastEventId. Keyset pagination: the cursor
 * holds the last (entity, key) given, so a page covers (after, last item]
 * however deep it is. Column filters are evaluated on the row JSON (public
 * scope: on the public projection) exactly as on streams.
 */
export async function readSnapshotPage(
  sql: Sql,
  catalog: EntityCatalog,
  registry: EntityRegistry,
  request: PageRequest,
): Promise<SnapshotPage> {
  const { scope, entities, limit, where } = request;
  const after = request.after === undefined ? undefined : decodeCursor(request.after, entities);
  const { result: items, lastEventId } = await snapshot(sql, async (tx) => {
    const found: SnapshotItem[] = [];
    for (const entity of entities) {
      if (after && entity.name < after.entity) continue;
      // A user scope sees the rows whose user column is its user: an entity without one has none.
      if (scope.kind === 'user' && entity.userColumn === null) continue;
      let from = after && entity.name === after.entity ? after.key : undefined;
      for (;;) {
        const rows = await readChunk(tx, entity, scope, request.keys, from);
        for (const r of rows) {
          const item = itemOf(entity, scope, r, catalog, registry);
          if (item && rowMatches(where, item.row)) found.push(item);
          if (found.length > limit) return found;
        }
        if (rows.length < CHUNK) break;
        from = rows.at(-1)!.k;
      }
    }
    return found;
  });
  const page = items.slice(0, limit);
  const last = page.at(-1);
  return { items: page, lastEventId, next: items.length > limit && last ? encodeCursor(last.entity, last.key) : null };
}

function readChunk(
  tx: postgres.TransactionSql,
  entity: CatalogEntity,
  scope: Scope,
  keys: string[] | undefined,
  after: string | undefined,
): Promise<{ row: Row; k: string }[]> {
  // Events carry `row ->> column` as company, user and key: compared as text here too.
  const key = tx`(t.${tx(entity.keyColumn)})::text collate "C"`;
  const table = tx`${tx(entity.relation.schema)}.${tx(entity.relation.name)}`;
  // bigint and numeric as their exact text, as the capture writes them (pgfeed.exact_row); the
  // table's list of such columns is an InitPlan, read once per query.
  const exact = tx`(select pgfeed.exact_columns(c.oid) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                     where n.nspname = ${entity.relation.schema} and c.relname = ${entity.relation.name})`;
  return tx<{ row: Row; k: string }[]>`
    select pgfeed.exact_row(to_jsonb(t), ${exact}) as row, ${key} as k from ${table} t
     where (t.${tx(entity.companyColumn)})::text = ${scope.companyId}
       ${scope.kind === 'user' ? tx`and (t.${tx(entity.userColumn!)})::text = ${scope.userId}` : tx``}
       ${keys ? tx`and ${key} = any(${keys}::text[])` : tx``}
       ${after === undefined ? tx`` : tx`and ${key} > ${after}`}
     order by ${key} limit ${CHUNK}`;
}

/** The item of a row for `scope`; undefined for a row of a registered entity that does not fit its schema (streams drop it too). */
function itemOf(
  entity: CatalogEntity,
  scope: Scope,
  r: { row: Row; k: string },
  catalog: EntityCatalog,
  registry: EntityRegistry,
): SnapshotItem | undefined {
  const full = camelKeys(r.row);
  const schema = registry.get(entity.name)?.row;
  if (schema && !schema.safeParse(full).success) return undefined;
  const user = entity.userColumn === null ? null : r.row[entity.userColumn];
  const row = scope.kind === 'public' ? (catalog.publicRow(entity.name, full) ?? {}) : full;
  return {
    entity: entity.name,
    key: r.k,
    companyId: scope.companyId,
    userId: scope.kind === 'public' || user === null || user === undefined ? null : String(user),
    row,
  };
}

function encodeCursor(entity: string, key: string): string {
  return Buffer.from(JSON.stringify([entity, key]), 'utf8').toString('base64url');
}

/** The cursor's (entity, key); a 400 when it is not one of ours for these entities. */
function decodeCursor(cursor: string, entities: CatalogEntity[]): { entity: string; key: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    typeof value[0] !== 'string' ||
    typeof value[1] !== 'string' ||
    !entities.some((e) => e.name === value[0])
  ) {
    throw new AppError('invalid_query', 'query parameter after: must be the `next` cursor of a previous page of this query');
  }
  return { entity: value[0], key: value[1] };
}
