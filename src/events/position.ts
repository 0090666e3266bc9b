/**
 * A place in the event log: the id of an event, or the position before the
 * first one (0, or the prune horizon). Ids are drawn in commit order, so a
 * position says "every event up to here" (docs/ordering.md). On the wire it is
 * a decimal string: the SSE `id:`, `Last-Event-ID`, `lastEventId`.
 */
export type Position = bigint;

/** The largest id PostgreSQL's bigint holds. */
export const MAX_POSITION: Position = 2n ** 63n - 1n;

const DECIMAL = /^(0|[1-9]\d{0,18})$/;

/** Parses a decimal position; undefined when it is not one (or does not fit a bigint). */
export function parsePosition(text: string): Position | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const p = BigInt(text);
  return p <= MAX_POSITION ? p : undefined;
}

/** The wire form of a position. */
export function formatPosition(p: Position): string {
  return p.toString();
}
