import type { ChangeEvent } from '../events/schema';

/** Who a stream is for; derived from the token (or the public URL), never from query parameters. */
export type Scope =
  | { kind: 'company'; companyId: string }
  | { kind: 'user'; companyId: string; userId: string }
  | { kind: 'public'; companyId: string };

export interface Filter {
  scope: Scope;
  /** Only these entities (undefined: all the scope may see; a public scope always has it). */
  entities?: ReadonlySet<string>;
  /** Only rows with these keys. */
  keys?: ReadonlySet<string>;
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
  return true;
}
