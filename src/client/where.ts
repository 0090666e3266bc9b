/**
 * Column filters as the server takes them (`where.<column>=<op>.<value>`, PostgREST style), parsed once so a
 * live collection can drop a row that an update moved out of its filter: the stream passes such an update
 * (one of the filtered columns is among its `changes`), and only the client can tell the row has left.
 */

import { type Condition, WHERE_OPS, type WhereOp, rowMatches } from '../streams/filter';

export { WHERE_OPS, type Condition, type WhereOp };

/** Filters as an application writes them: `{ status: 'eq.confirmed', seats: 'gt.2', channel: 'in.(cashier,online)' }`. */
export type Where = Record<string, string>;

/** Parses `where`; throws a TypeError naming the column for anything the server would refuse to parse. */
export function parseWhere(where: Where = {}): Condition[] {
  return Object.entries(where).map(([column, text]) => {
    const dot = text.indexOf('.');
    const op = text.slice(0, dot) as WhereOp;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(column)) throw new TypeError(`where: "${column}" is not a column name`);
    if (dot < 0 || !WHERE_OPS.includes(op)) {
      throw new TypeError(`where.${column}: "${text}" must be <op>.<value> with op one of ${WHERE_OPS.join(', ')}`);
    }
    const value = text.slice(dot + 1);
    if (op !== 'in') return { column, op, values: [value] };
    if (!/^\(.*\)$/.test(value)) throw new TypeError(`where.${column}: in takes a list, e.g. in.(a,b)`);
    return { column, op, values: value.slice(1, -1).split(',') };
  });
}

/** The query parameters that carry `conditions` (the same text the application wrote). */
export function whereParams(conditions: Condition[]): [string, string][] {
  return conditions.map(({ column, op, values }) => [
    `where.${column}`,
    op === 'in' ? `in.(${values.join(',')})` : `${op}.${values[0]}`,
  ]);
}

/** Whether `row` passes every condition: the server's own evaluation (streams and snapshots), so both agree. */
export function matchesWhere(conditions: readonly Condition[], row: Record<string, unknown>): boolean {
  return rowMatches(conditions, row);
}
