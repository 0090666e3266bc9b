/**
 * Column filters of streams and snapshots, PostgREST style:
 * `where.<column>=<op>.<value>` (`where.status=eq.confirmed`, `where.seats=gt.2`,
 * `where.channel=in.(cashier,online)`). Parsed with zod, then checked against
 * the columns of the requested entities, so a mistake is a 400 before a stream
 * starts. Evaluation is src/streams/filter.ts.
 */
import { z } from 'zod';
import { AppError } from '../errors';
import type { CatalogEntity, EntityCatalog } from '../events/catalog';
import type { ChangeEvent } from '../events/schema';
import { type Condition, type Scope, WHERE_OPS, type Where } from '../streams/filter';
import { pgText, single } from './params';

type Row = Record<string, unknown>;

const PREFIX = 'where.';
const COLUMN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Bounds, so a query cannot make every event's check arbitrarily expensive. */
const MAX_CONDITIONS = 20;
const MAX_IN_VALUES = 100;

/** `<op>.<value>`; `in.(a,b,c)`. */
const whereValue = single.pipe(pgText).transform((text, ctx): Omit<Condition, 'column'> => {
  const dot = text.indexOf('.');
  const op = text.slice(0, dot);
  if (dot < 0 || !(WHERE_OPS as readonly string[]).includes(op)) {
    ctx.addIssue({ code: 'custom', message: `must be <op>.<value> with op one of ${WHERE_OPS.join(', ')}` });
    return z.NEVER;
  }
  const value = text.slice(dot + 1);
  if (value.length > 200) {
    ctx.addIssue({ code: 'custom', message: 'the value must be at most 200 characters' });
    return z.NEVER;
  }
  if (op !== 'in') return { op: op as Condition['op'], values: [value] };
  if (!/^\(.*\)$/.test(value)) {
    ctx.addIssue({ code: 'custom', message: 'in takes a parenthesised list, e.g. in.(a,b)' });
    return z.NEVER;
  }
  const values = value.slice(1, -1).split(',');
  if (values.length > MAX_IN_VALUES) {
    ctx.addIssue({ code: 'custom', message: `in takes at most ${MAX_IN_VALUES} values` });
    return z.NEVER;
  }
  return { op: 'in', values };
});

/** The `where.*` parameters of a query, as /openapi.json describes them. */
export const whereParameter = z
  .string()
  .regex(/^((eq|neq|lt|lte|gt|gte)\..*|in\.\(.*\))$/)
  .describe(
    'Column filter `where.<column>=<op>.<value>` (repeatable over columns, all must hold): op is eq, neq, lt, lte, gt, gte or in ' +
      '(`in.(a,b)`); <column> is a camelCase key of the row (public scope: of the public projection) present in every requested entity. ' +
      'Numbers (and bigint/numeric values, JSON strings of decimal digits) compare numerically, other strings as strings (UTC ISO timestamps sort correctly), booleans as true/false, `null` with eq/neq. ' +
      'On streams an update also passes when a filtered column is among its `changes` (the row may have left the filter).',
  );

/** The column filters of a query (`where.<column>`), parsed; a 400 `invalid_query` naming the parameter otherwise. */
export function parseWhere(query: Record<string, unknown>): Condition[] {
  const conditions: Condition[] = [];
  for (const [name, raw] of Object.entries(query)) {
    if (!name.startsWith(PREFIX)) continue;
    const column = name.slice(PREFIX.length);
    if (!COLUMN.test(column)) throw invalid(name, 'must name a column: where.<column>');
    const parsed = whereValue.safeParse(raw);
    if (!parsed.success) throw invalid(name, parsed.error.issues[0]?.message ?? 'is invalid');
    conditions.push({ column, ...parsed.data });
  }
  if (conditions.length > MAX_CONDITIONS) throw invalid('where', `at most ${MAX_CONDITIONS} column filters`);
  return conditions;
}

function invalid(name: string, message: string): AppError {
  return new AppError('invalid_query', `query parameter ${name}: ${message}`);
}

/**
 * Checks `conditions` against every entity of the request: the column must be
 * a field of each (public scope: of its public projection), and the values
 * must fit the column (a number for a number column, true/false for a
 * boolean; `null` only with eq, neq and in; no json or array columns).
 */
export function checkWhere(conditions: readonly Condition[], entities: readonly CatalogEntity[], scope: Scope): void {
  for (const c of conditions) {
    const name = `where.${c.column}`;
    for (const entity of entities) {
      const fields = scope.kind === 'public' ? (entity.publicFields ?? []) : entity.columns.map((col) => col.field);
      if (!fields.includes(c.column)) {
        const what = scope.kind === 'public' ? `the public projection of ${entity.name}` : entity.name;
        throw invalid(name, `${c.column} is not a column of ${what} (columns: ${fields.join(', ')})`);
      }
      // A computed public field (not a table column) has no declared type: its values are compared as given.
      const column = entity.columns.find((col) => col.field === c.column);
      if (column) checkValues(name, c, column.kind, column.type);
    }
  }
}

function checkValues(name: string, c: Condition, kind: CatalogEntity['columns'][number]['kind'], type: string): void {
  if (kind === 'json') throw invalid(name, `${c.column} is a ${type} column, which filters cannot compare`);
  for (const v of c.values) {
    if (v === 'null') {
      if (c.op === 'eq' || c.op === 'neq' || c.op === 'in') continue;
      throw invalid(name, 'null compares only with eq, neq or in');
    }
    if ((kind === 'number' || kind === 'decimal') && (v.trim() === '' || !Number.isFinite(Number(v)))) {
      throw invalid(name, `${c.column} is a ${type} column: "${v}" is not a number`);
    }
    if (kind === 'boolean' && v !== 'true' && v !== 'false') {
      throw invalid(name, `${c.column} is a ${type} column: the value must be true or false`);
    }
  }
}

/**
 * The filter streams and snapshots evaluate. Public streams evaluate it on
 * the public projection; the projection of an event is computed once for all
 * the public streams that filter it (events are shared, so a WeakMap holds it).
 */
export function compileWhere(conditions: readonly Condition[], scope: Scope, catalog: EntityCatalog): Where | undefined {
  if (conditions.length === 0) return undefined;
  if (scope.kind !== 'public') return { conditions };
  return { conditions, view: (event) => publicView(catalog, event) };
}

const projected = new WeakMap<ChangeEvent, { row: Row; changes: Row | null }>();

function publicView(catalog: EntityCatalog, event: ChangeEvent): { row: Row; changes: Row | null } {
  let view = projected.get(event);
  if (!view) {
    const row = catalog.publicRow(event.entity, event.row) ?? {};
    view = { row, changes: event.changes && catalog.publicChanges(event.entity, row, event.changes) };
    projected.set(event, view);
  }
  return view;
}
