import type { Sql } from '../db/connect';
import { BUILTIN_ENTITIES } from '../names';

/** The entity names streams may filter on: built-in ones and tables added with pgfeed.watch(). */
export class EntityCatalog {
  private known = new Set<string>(BUILTIN_ENTITIES);

  constructor(private readonly sql: Sql) {}

  /** The names in `names` that no watched table produces (re-reading pgfeed.watched on a miss). */
  async unknownOf(names: string[]): Promise<string[]> {
    if (names.every((n) => this.known.has(n))) return [];
    const rows = await this.sql<{ entity: string }[]>`select entity from pgfeed.watched`;
    this.known = new Set([...BUILTIN_ENTITIES, ...rows.map((r) => r.entity)]);
    return names.filter((n) => !this.known.has(n));
  }
}
