import type { z } from 'zod';

type Row = Record<string, unknown>;

/** A row shown as labelled cells, on pages and in `format=html` fragments. */
export type Cells = [label: string, value: unknown][];

/**
 * What pgfeed needs to know about a table whose changes become events. An
 * application registers its entities with `startPgfeed({ entities })`; the
 * core names no table of its own.
 */
export interface EntityDefinition<S extends z.ZodType<Row> = z.ZodType<Row>> {
  /** The name events carry as `entity` and streams filter on (`[a-z][a-z0-9_]*`). */
  name: string;
  /** The table, optionally schema-qualified (`billing.invoices`). */
  table: string;
  /** Columns (snake_case, as in the table). Defaults: `id`, `company_id`, none. */
  keyColumn?: string;
  companyColumn?: string;
  userColumn?: string;
  /** The row as events carry it (camelCase keys); a row that does not match is not delivered. */
  row: S;
  /**
   * What anonymous public streams may see of a row; without it the entity
   * never reaches a public stream. `dependsOn` names the row columns each
   * projected field is computed from (default: the field itself), so an
   * update's `changes` can be projected too.
   */
  public?: {
    project(row: z.infer<S>): Row;
    dependsOn?: Record<string, readonly string[]>;
  };
  /** The row as labelled cells; without it a row renders as its JSON. */
  cells?(row: Row): Cells;
}

/** Declares an entity with its row type inferred from the schema. */
export function defineEntity<S extends z.ZodType<Row>>(definition: EntityDefinition<S>): EntityDefinition<S> {
  return definition;
}

const NAME = /^[a-z][a-z0-9_]*$/;

/** The registered entities as an application's routes see them (RouteContext.entities). */
export interface Entities {
  get(name: string): EntityDefinition | undefined;
  all(): EntityDefinition[];
  /** What anonymous public streams see of a row of `name`; undefined when the entity is never public. */
  publicRow(name: string, row: Record<string, unknown>): Record<string, unknown> | undefined;
}

/** The registered entities, looked up by name. */
export class EntityRegistry implements Entities {
  private readonly byName = new Map<string, EntityDefinition>();

  constructor(definitions: readonly EntityDefinition[] = []) {
    for (const d of definitions) {
      if (!NAME.test(d.name)) throw new TypeError(`entity name "${d.name}" must match ${NAME}`);
      if (this.byName.has(d.name)) throw new TypeError(`entity "${d.name}" is registered twice`);
      this.byName.set(d.name, d as unknown as EntityDefinition);
    }
  }

  get(name: string): EntityDefinition | undefined {
    return this.byName.get(name);
  }

  all(): EntityDefinition[] {
    return [...this.byName.values()];
  }

  /** Names of the entities public streams carry. */
  publicNames(): string[] {
    return this.all()
      .filter((d) => d.public)
      .map((d) => d.name);
  }

  /** The public projection of a row, or undefined when the entity is not public. */
  publicRow(name: string, row: Row): Row | undefined {
    return this.get(name)?.public?.project(row);
  }

  /** The public projection of an update's `changes`: the projected fields whose sources changed. */
  publicChanges(name: string, projected: Row, changes: Row): Row {
    const dependsOn = this.get(name)?.public?.dependsOn ?? {};
    const changed = Object.keys(changes);
    const out: Row = {};
    for (const field of Object.keys(projected)) {
      const sources = dependsOn[field] ?? [field];
      if (sources.some((s) => changed.includes(s))) out[field] = projected[field];
    }
    return out;
  }
}
