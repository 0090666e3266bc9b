import type { Sql } from '../db/connect';
import type { EntityRegistry } from './entity';

/**
 * The entity names streams may filter on: the registered entities and tables
 * watched from SQL alone (`select pgfeed.watch(...)`), whose rows pass through
 * unchecked.
 */
export class EntityCatalog {
  private known: Set<string>;

  constructor(
    private readonly sql: Sql,
    private readonly entities: EntityRegistry,
  ) {
    this.known = new Set(entities.all().map((e) => e.name));
  }

  /** The names in `names` that no watched table produces (re-reading pgfeed.watched on a miss). */
  async unknownOf(names: readonly string[]): Promise<string[]> {
    if (names.every((n) => this.known.has(n))) return [];
    const rows = await this.sql<{ entity: string }[]>`select entity from pgfeed.watched`;
    this.known = new Set([...this.entities.all().map((e) => e.name), ...rows.map((r) => r.entity)]);
    return names.filter((n) => !this.known.has(n));
  }
}
