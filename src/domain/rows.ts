import type { TransactionSql } from 'postgres';
import { camelKeys } from '../express';

type Row = Record<string, unknown>;

/**
 * Rows leave the database as `to_jsonb(row)` under TimeZone UTC — the same
 * way the capture trigger builds event rows — so a snapshot item and an
 * event row of the same record are identical.
 */
export async function utc(tx: TransactionSql): Promise<void> {
  await tx`set local timezone = 'UTC'`;
}

/** camelCase rows from `select to_jsonb(t) as row ...`. */
export function rowsOf(result: readonly { row: Row }[]): Row[] {
  return result.map((r) => camelKeys(r.row));
}
