import type { ChangeEvent, PublicStock, PublicTrip } from '../events/schema';

/** Who a stream is for; derived from the token (or the public URL), never from query parameters. */
export type Scope =
  | { kind: 'company'; companyId: string }
  | { kind: 'user'; companyId: string; userId: string }
  | { kind: 'public'; companyId: string };

export interface Filter {
  scope: Scope;
  /** Only these entities (undefined: all the scope may see). */
  entities?: ReadonlySet<string>;
  /** Only rows with these keys. */
  keys?: ReadonlySet<string>;
}

/** Entities a public stream carries. */
export const PUBLIC_ENTITIES: ReadonlySet<string> = new Set(['trip', 'stock']);

/** True when a subscriber with this filter may and wants to see the event. */
export function matches(filter: Filter, event: ChangeEvent): boolean {
  const { scope } = filter;
  if (event.companyId !== scope.companyId) return false;
  if (scope.kind === 'user' && event.userId !== scope.userId) return false;
  if (scope.kind === 'public' && !PUBLIC_ENTITIES.has(event.entity)) return false;
  if (filter.entities && !filter.entities.has(event.entity)) return false;
  if (filter.keys && !filter.keys.has(event.key)) return false;
  return true;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** The public projection of a trip or stock row (section 4): availability, never people. */
export function publicRow(entity: string, row: Record<string, unknown>): PublicTrip | PublicStock | Record<string, never> {
  if (entity === 'trip') {
    return {
      id: String(row.id),
      route: String(row.route),
      departsAt: String(row.departsAt),
      capacity: num(row.capacity),
      availableSlots: num(row.availableSlots),
      bookingHalted: row.bookingHalted === true,
    };
  }
  if (entity === 'stock') {
    return { id: String(row.id), sku: String(row.sku), name: String(row.name), available: num(row.quantity) - num(row.reserved) };
  }
  return {};
}

/** The event as a public stream sends it: projected row and changes, no user. */
export function publicEvent(event: ChangeEvent): ChangeEvent {
  const row = publicRow(event.entity, event.row) as Record<string, unknown>;
  let changes: Record<string, unknown> | null = null;
  if (event.changes) {
    const changed = Object.keys(event.changes);
    const touches = (cols: string[]) => changed.some((c) => cols.includes(c));
    changes = {};
    for (const key of Object.keys(row)) {
      const sources = key === 'available' ? ['quantity', 'reserved'] : [key];
      if (touches(sources)) changes[key] = row[key];
    }
  }
  return { ...event, userId: null, row, changes };
}
