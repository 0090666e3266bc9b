/**
 * Column filters as the server takes them (`where.<column>=<op>.<value>`, PostgREST style), parsed once so a
 * live collection can drop a row that an update moved out of its filter: the stream passes such an update
 * (one of the filtered columns is among its `changes`), and only the client can tell the row has left.
 */

/** The comparison operators of a column filter. */
export const WHERE_OPS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in'] as const;
export type WhereOp = (typeof WHERE_OPS)[number];

/** One parsed filter: `column` compared with `values` (one value, or several for `in`). */
export interface Condition {
  column: string;
  op: WhereOp;
  values: string[];
}

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

/**
 * How a row's JSON value compares with a filter's text, as the server compares them: numbers numerically,
 * strings as strings (ISO timestamps sort correctly), booleans as `true`/`false`, null only with `null`.
 * Undefined when they cannot be compared (then only `neq` holds).
 */
function compare(value: unknown, text: string): number | undefined {
  if (value === null || value === undefined) return text === 'null' ? 0 : undefined;
  if (typeof value === 'number') {
    const n = text.trim() === '' ? NaN : Number(text);
    return Number.isNaN(n) ? undefined : Math.sign(value - n);
  }
  if (typeof value === 'boolean')
    return text === 'true' || text === 'false' ? Number(value) - Number(text === 'true') : undefined;
  if (typeof value === 'string') return value < text ? -1 : value > text ? 1 : 0;
  return undefined;
}

function holds({ op, values }: Condition, value: unknown): boolean {
  if (op === 'in') return values.some((v) => compare(value, v) === 0);
  const c = compare(value, values[0]!);
  switch (op) {
    case 'eq':
      return c === 0;
    case 'neq':
      return c !== 0;
    case 'lt':
      return c !== undefined && c < 0;
    case 'lte':
      return c !== undefined && c <= 0;
    case 'gt':
      return c !== undefined && c > 0;
    case 'gte':
      return c !== undefined && c >= 0;
  }
}

/** Whether `row` passes every condition. */
export function matchesWhere(conditions: Condition[], row: Record<string, unknown>): boolean {
  return conditions.every((c) => holds(c, row[c.column]));
}
