import type { ChangeEvent } from '../events/schema';

type Row = Record<string, unknown>;

/** Who a stream is for; derived from the token (or the public URL), never from query parameters. */
export type Scope =
  | { kind: 'company'; companyId: string }
  | { kind: 'user'; companyId: string; userId: string }
  | { kind: 'public'; companyId: string };

/** The comparison operators of a column filter (`where.<column>=<op>.<value>`). */
export const WHERE_OPS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in'] as const;
export type WhereOp = (typeof WHERE_OPS)[number];

/** One column filter: the row's `column` (camelCase) compared with `values` (one, or several for `in`), as text. */
export interface Condition {
  column: string;
  op: WhereOp;
  values: readonly string[];
}

/**
 * Column filters, checked and ready to evaluate. `view` gives the row and
 * changes the conditions are evaluated on (public streams: the public
 * projection); without it, the event's own.
 */
export interface Where {
  conditions: readonly Condition[];
  view?: (event: ChangeEvent) => { row: Row; changes: Row | null };
}

export interface Filter {
  scope: Scope;
  /** Only these entities (undefined: all the scope may see; a public scope always has it). */
  entities?: ReadonlySet<string>;
  /** Only rows with these keys. */
  keys?: ReadonlySet<string>;
  /** Only rows passing these column filters (see `passesWhere`). */
  where?: Where;
}

/** True when a subscriber with this filter may and wants to see the event. */
export function matches(filter: Filter, event: ChangeEvent): boolean {
  const { scope } = filter;
  // A reset reaches every stream; a TRUNCATE every stream that carries its entity.
  if (event.op === 'reset') return true;
  if (event.op === 'truncate')
    return (scope.kind !== 'public' || !!filter.entities) && (filter.entities?.has(event.entity) ?? true);
  if (event.companyId !== scope.companyId) return false;
  if (scope.kind === 'user' && event.userId !== scope.userId) return false;
  // A public stream carries only the entities named for it: never everything by default.
  if (scope.kind === 'public' && !filter.entities) return false;
  if (filter.entities && !filter.entities.has(event.entity)) return false;
  if (filter.keys && !filter.keys.has(event.key)) return false;
  if (filter.where && !passesWhere(filter.where, event)) return false;
  return true;
}

/**
 * An insert or delete passes when its row matches. An update passes when its
 * new row matches, or when a filtered column is among its `changes`: the row
 * may just have left the filter, and only the client holding it can tell, so
 * it gets the update and drops the row.
 */
export function passesWhere(where: Where, event: ChangeEvent): boolean {
  const { row, changes } = where.view ? where.view(event) : event;
  if (rowMatches(where.conditions, row)) return true;
  return event.op === 'update' && changes !== null && where.conditions.some((c) => c.column in changes);
}

/** Whether `row` passes every condition (what snapshots keep). */
export function rowMatches(conditions: readonly Condition[], row: Row): boolean {
  return conditions.every((c) => holds(c, row[c.column]));
}

/** PostgreSQL's text of a bigint or numeric (the row JSON carries them as strings): sign, digits, fraction. */
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * Two decimal texts compared exactly (no float rounding: bigint past 2^53,
 * numeric of any precision); undefined when either is not plain decimal text.
 */
export function compareDecimal(a: string, b: string): number | undefined {
  const x = DECIMAL.exec(a);
  const y = DECIMAL.exec(b);
  if (!x || !y) return undefined;
  const parts = (m: RegExpExecArray) => {
    const int = m[2]!.replace(/^0+(?=\d)/, '');
    const frac = (m[3] ?? '').replace(/0+$/, '');
    return { neg: m[1] === '-' && /[1-9]/.test(int + frac), int, frac };
  };
  const p = parts(x);
  const q = parts(y);
  if (p.neg !== q.neg) return p.neg ? -1 : 1;
  const sign = p.neg ? -1 : 1;
  if (p.int.length !== q.int.length) return sign * Math.sign(p.int.length - q.int.length);
  const width = Math.max(p.frac.length, q.frac.length);
  const u = p.int + p.frac.padEnd(width, '0');
  const v = q.int + q.frac.padEnd(width, '0');
  return sign * (u < v ? -1 : u > v ? 1 : 0);
}

/**
 * How a row's JSON value compares with a filter's text: numbers numerically,
 * bigint and numeric values (strings of decimal digits) numerically when the
 * filter's text is a number too (exactly when both are plain decimals),
 * other strings as strings (UTC ISO timestamps sort correctly), booleans as
 * `true`/`false`, null only with `null`. Undefined when they cannot be
 * compared: then only `neq` holds. The client (`pgfeed/client`) compares the same way.
 */
function compare(value: unknown, text: string): number | undefined {
  if (value === null || value === undefined) return text === 'null' ? 0 : undefined;
  if (typeof value === 'number') {
    const n = text.trim() === '' ? NaN : Number(text);
    return Number.isNaN(n) ? undefined : Math.sign(value - n);
  }
  if (typeof value === 'boolean') {
    return text === 'true' || text === 'false' ? Number(value) - Number(text === 'true') : undefined;
  }
  if (typeof value === 'string') {
    if (DECIMAL.test(value) && text.trim() !== '' && Number.isFinite(Number(text))) {
      return compareDecimal(value, text) ?? Math.sign(Number(value) - Number(text));
    }
    return value < text ? -1 : value > text ? 1 : 0;
  }
  return undefined;
}

function holds({ op, values }: Condition, value: unknown): boolean {
  if (op === 'in') return values.some((v) => compare(value, v) === 0);
  const c = compare(value, values[0] ?? '');
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
