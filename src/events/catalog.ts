import { z } from 'zod';
import type { Sql } from '../db/connect';
import { AppError } from '../errors';
import { camelCase } from './decode';
import type { EntityRegistry } from './entity';

type Row = Record<string, unknown>;

/**
 * What a column's value is in a row's JSON, so a filter value can be checked
 * before a stream starts: `number`, `boolean`, `string` (text, timestamps,
 * uuids, ...), or `json` (json, jsonb, arrays, composites: not filterable),
 * or `decimal` (bigint, numeric: PostgreSQL's exact text in a JSON string, compared as numbers).
 */
export type ColumnKind = 'number' | 'boolean' | 'string' | 'json' | 'decimal';

/** One column of a watched table. */
export interface CatalogColumn {
  /** As in the table (snake_case). */
  column: string;
  /** As rows carry it (camelCase). */
  field: string;
  /** PostgreSQL's name of its type (`format_type`). */
  type: string;
  kind: ColumnKind;
}

/** A watched table, as pgfeed.watched and the PostgreSQL catalog describe it. */
export interface CatalogEntity {
  name: string;
  /** The table (regclass text: quoted and schema-qualified where needed). */
  table: string;
  /** Its schema and name, unquoted (for queries). */
  relation: { schema: string; name: string };
  keyColumn: string;
  companyColumn: string;
  userColumn: string | null;
  columns: CatalogColumn[];
  /**
   * The fields anonymous public streams and snapshots show, in row order;
   * undefined when the entity is never public. Registered entities: the keys
   * their `public.project` gives; tables watched from SQL: the columns
   * declared with pgfeed.set_public_columns (`pgfeed watch --public-columns`).
   */
  publicFields: string[] | undefined;
}

interface WatchedRow {
  entity: string;
  table: string;
  schema: string;
  rel: string;
  keyColumn: string;
  companyColumn: string;
  userColumn: string | null;
  publicColumns: string[] | null;
  columns: { name: string; type: string; category: string; typtype: string; exact: boolean }[];
}

/** What the row JSON (`to_jsonb`) holds for a type, by pg_type.typcategory and typname. */
function kindOf(c: { type: string; category: string; exact: boolean }): ColumnKind {
  // Before `exact`: an array of bigint or numeric holds strings, but is no decimal.
  if (c.category === 'A' || c.category === 'C' || c.type === 'json' || c.type === 'jsonb') return 'json';
  if (c.exact) return 'decimal';
  if (c.category === 'N') return 'number';
  if (c.category === 'B') return 'boolean';
  return 'string';
}

/**
 * Why the catalog was read: at `start`; a `notify` on pgfeed.catalog_channel()
 * (watch, unwatch, public columns, ALTER TABLE); each (re)`listen` of the
 * listener (a notification may have been missed while it was away); the
 * fallback `poll`; a `miss` (a request names an entity not known yet).
 */
export type CatalogReadReason = 'start' | 'notify' | 'listen' | 'poll' | 'miss';

/** The fallback poll: for notifications that never arrive (a pooler in the listener's route, an ALTER TABLE without the event trigger). */
const DEFAULT_POLL_MS = 60_000;

/**
 * The watched tables: their entity names, scope columns, columns and public
 * projections, for the registered entities and for tables watched from SQL
 * alone (`select pgfeed.watch(...)`, `pgfeed watch`), whose rows pass through
 * unchecked. Read from the database at start and again when told what is
 * watched changed (`reread`: the NOTIFY pgfeed.watch() and its kin send, and
 * each listener reconnect), so an operator's `pgfeed watch` (another process)
 * reaches running instances at once — including a narrowed public projection,
 * which must stop showing a column — and on a miss (a name not known yet).
 * A slow poll (`pollMs`) catches what no notification said.
 *
 * It is also what streams project public rows with (`Presentation.entities`).
 */
export class EntityCatalog {
  private byName = new Map<string, CatalogEntity>();
  private fingerprint = '';
  /** Grows each time a read finds the catalog changed (what documents built from it are cached by). */
  generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly sql: Sql,
    private readonly entities: EntityRegistry,
    private readonly options: {
      pollMs?: number;
      onRefreshError?: (error: unknown) => void;
      /** Each read, and why (a metric). */
      onRead?: (reason: CatalogReadReason) => void;
    } = {},
  ) {}

  /** Reads the catalog, then polls it slowly (notifications, through `reread`, are the fast path). */
  async start(): Promise<void> {
    await this.refresh('start');
    this.timer = setInterval(() => this.reread('poll'), this.options.pollMs ?? DEFAULT_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Reads the catalog again without waiting (not once stopped); a failed read (the database away) keeps the last one. */
  reread(reason: CatalogReadReason): void {
    if (this.stopped) return;
    this.refresh(reason).catch((error: unknown) => this.options.onRefreshError?.(error));
  }

  /**
   * Reads the catalog again. One read at a time; a call during a read gets one
   * more read after it (shared by every such call): the read under way may
   * have started before the change that asked for this one committed.
   */
  refresh(reason: CatalogReadReason): Promise<void> {
    if (!this.reading) {
      this.options.onRead?.(reason);
      this.reading = this.read().finally(() => (this.reading = undefined));
      return this.reading;
    }
    this.again ??= this.reading
      .catch(() => {})
      .then(() => {
        this.again = undefined;
        return this.refresh(reason);
      });
    return this.again;
  }

  private async read(): Promise<void> {
    const rows = await this.sql<WatchedRow[]>`
      select w.entity, w.table_name::text as table, n.nspname as schema, c.relname as rel, w.key_column as "keyColumn", w.company_column as "companyColumn",
             w.user_column as "userColumn", p.columns as "publicColumns",
             coalesce((select json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                                         'category', t.typcategory, 'typtype', t.typtype,
                                                         'exact', a.attname = any(pgfeed.exact_columns(w.table_name))) order by a.attnum)
                         from pg_attribute a join pg_type t on t.oid = a.atttypid
                        where a.attrelid = w.table_name and a.attnum > 0 and not a.attisdropped), '[]') as columns
        from pgfeed.watched w
        join pg_class c on c.oid = w.table_name
        join pg_namespace n on n.oid = c.relnamespace
        left join pgfeed.watch_public p on p.table_name = w.table_name`;
    const next = new Map<string, CatalogEntity>();
    for (const r of rows) {
      const columns = r.columns.map((c) => ({ column: c.name, field: camelCase(c.name), type: c.type, kind: kindOf(c) }));
      next.set(r.entity, {
        name: r.entity,
        table: r.table,
        relation: { schema: r.schema, name: r.rel },
        keyColumn: r.keyColumn,
        companyColumn: r.companyColumn,
        userColumn: r.userColumn,
        columns,
        publicFields: this.publicFieldsOf(r.entity, columns, r.publicColumns),
      });
    }
    const fingerprint = JSON.stringify([...next.values()]);
    if (fingerprint !== this.fingerprint) {
      this.byName = next;
      this.fingerprint = fingerprint;
      this.generation++;
    }
  }

  private publicFieldsOf(name: string, columns: CatalogColumn[], declared: string[] | null): string[] | undefined {
    const registered = this.entities.get(name);
    if (registered) {
      if (!registered.public) return undefined;
      // The projection is code: its keys are found by projecting a row of nulls.
      try {
        return Object.keys(registered.public.project(Object.fromEntries(columns.map((c) => [c.field, null]))));
      } catch {
        return [];
      }
    }
    if (!declared) return undefined;
    return columns.filter((c) => declared.includes(c.column)).map((c) => c.field);
  }

  /** The watched entity `name`, as last read. */
  get(name: string): CatalogEntity | undefined {
    return this.byName.get(name);
  }

  /** The watched entities that no registered entity describes: tables watched from SQL alone. */
  sqlOnly(): CatalogEntity[] {
    return this.all().filter((e) => !this.entities.get(e.name));
  }

  /** Every watched entity, by name. */
  all(): CatalogEntity[] {
    return [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The watched entities `names` (reading the catalog again when one is missing); undefined for unknown ones. */
  async lookup(names: readonly string[]): Promise<(CatalogEntity | undefined)[]> {
    if (!names.every((n) => this.byName.has(n))) await this.refresh('miss');
    return names.map((n) => this.byName.get(n));
  }

  /**
   * The entities a request of scope `kind` covers: those named (each must exist;
   * a public scope only public ones), or every one the scope may see (public: the
   * public ones; user: those with a user column). Sorted by name. A 400
   * `invalid_query` names what is not allowed; for the public scope it is the same
   * answer for a private entity and a name that does not exist, and costs no read.
   */
  async resolve(kind: 'company' | 'user' | 'public', names: readonly string[] | undefined): Promise<CatalogEntity[]> {
    if (kind === 'public') {
      const allowed = this.publicNames();
      const hidden = (names ?? []).filter((e) => !allowed.includes(e));
      if (hidden.length > 0) {
        throw new AppError('invalid_query', `public streams carry only ${LIST.format(allowed)}, not ${LIST.format(hidden)}`);
      }
      return (names ?? allowed).map((n) => this.byName.get(n)!).sort(byEntityName);
    }
    if (!names) return this.all().filter((e) => kind !== 'user' || e.userColumn !== null);
    const found = await this.lookup(names);
    const unknown = names.filter((_, i) => !found[i]);
    if (unknown.length > 0) throw new AppError('invalid_query', `unknown entity: ${unknown.join(', ')}`);
    return [...new Set(found as CatalogEntity[])].sort(byEntityName);
  }

  /** Names of the entities public streams carry: the registered ones in their order, then those watched from SQL. */
  publicNames(): string[] {
    return [
      ...this.entities.all().filter((e) => this.byName.get(e.name)?.publicFields !== undefined),
      ...this.sqlOnly().filter((e) => e.publicFields !== undefined),
    ].map((e) => e.name);
  }

  /** The public projection of a row, or undefined when the entity is not public. */
  publicRow(name: string, row: Row): Row | undefined {
    if (this.entities.get(name)) return this.entities.publicRow(name, row);
    const fields = this.byName.get(name)?.publicFields;
    if (!fields) return undefined;
    const out: Row = {};
    for (const f of fields) if (f in row) out[f] = row[f];
    return out;
  }

  /** The public projection of an update's `changes`: the projected fields whose sources changed. */
  publicChanges(name: string, projected: Row, changes: Row): Row {
    if (this.entities.get(name)) return this.entities.publicChanges(name, projected, changes);
    const out: Row = {};
    for (const f of Object.keys(projected)) if (f in changes) out[f] = projected[f];
    return out;
  }
}

const KIND_SCHEMA: Record<ColumnKind, () => z.ZodType> = {
  number: () => z.number(),
  boolean: () => z.boolean(),
  string: () => z.string(),
  json: () => z.unknown(),
  decimal: () => z.string(),
};

/**
 * The row of a table watched from SQL as events carry it (its columns, each
 * possibly null), or its public projection: for /openapi.json and /asyncapi.json.
 */
export function watchedRowSchema(entity: CatalogEntity, view: 'full' | 'public' = 'full'): z.ZodObject {
  const fields = view === 'public' ? (entity.publicFields ?? []) : entity.columns.map((c) => c.field);
  const shape: Record<string, z.ZodType> = {};
  for (const c of entity.columns) {
    if (fields.includes(c.field)) shape[c.field] = KIND_SCHEMA[c.kind]().nullable().describe(c.type);
  }
  return z.object(shape);
}

const LIST = new Intl.ListFormat('en', { type: 'conjunction' });
const byEntityName = (a: CatalogEntity, b: CatalogEntity) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
