/**
 * The keyed collection behind `live()`: snapshot pages in, change events in, rows and what changed out.
 * Pure: no network, no timers, so every rule below is unit-tested (test/live-collection.test.ts).
 *
 * The rules, from the agreed snapshot interface (docs/api.md, "Live collections"):
 * - Rows are keyed by (entity, key). An insert of a row already held, or an update of a row not held, is
 *   applied as what it is now (WAL capture may number an insert after the snapshot that already holds it).
 * - Duplicates: each snapshot page covers a key range and reflects the log up to its `lastEventId`; the
 *   stream starts at the smallest of them, so an event at or below the `lastEventId` of the page whose range
 *   holds its row is already reflected and ignored.
 * - A row an update takes out of the column filters is removed; a delete (also the one a row that moved to
 *   another company leaves in the old scope) removes it; a truncate removes every row of its entity.
 */
import type { ChangeEvent } from '../events/schema';
import { type Condition, matchesWhere } from './where';

type Row = Record<string, unknown>;

/** One row of a live collection, as a snapshot page item or a change event carries it. */
export interface LiveItem<R = Row> {
  entity: string;
  key: string;
  companyId: string | null;
  userId: string | null;
  row: R;
}

/** One page of `GET /snapshots/...`. */
export interface SnapshotPage<R = Row> {
  items: LiveItem<R>[];
  lastEventId: string;
  next: string | null;
}

/**
 * What happened to one row: `insert` (it appeared), `update` (with the columns whose values changed),
 * `delete` (it is gone; `item` is what it was).
 */
export interface Change<R = Row> {
  kind: 'insert' | 'update' | 'delete';
  item: LiveItem<R>;
  /** For an update: the row before it. */
  previous?: LiveItem<R>;
  /** For an update: the columns that changed, with their new values. */
  changes?: Partial<R>;
  /** The event that made the change; absent when a snapshot (a first load or a reset) did. */
  eventId?: string;
}

/** Compares two decimal event ids (no leading zeros; "0" is before every event). */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Code point order, as PostgreSQL's `collate "C"` sorts UTF-8 text. JavaScript's `<` compares UTF-16 code
 * units, which puts a character above U+FFFF (a surrogate pair) before U+E000..U+FFFF.
 */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === a.length || i === b.length) return a.length - b.length;
  return a.codePointAt(i)! - b.codePointAt(i)!;
}

/** Orders (entity, key) as the server orders snapshot items: by entity, then key, in code point order. */
function compareKeys(entityA: string, keyA: string, entityB: string, keyB: string): number {
  return compareText(entityA, entityB) || compareText(keyA, keyB);
}

/** A page's key range, by its upper end: (previous page's upper, upper]; undefined upper = to the end. */
interface PageRange {
  upper: { entity: string; key: string } | undefined;
  lastEventId: string;
}

const idOf = (entity: string, key: string) => `${entity}\u0000${key}`;

const same = (a: unknown, b: unknown) =>
  a === b || (typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b));

/** The columns of `next` whose values differ from `before` (a column gone counts as changed to undefined). */
function diff<R extends Row>(before: R, next: R): Partial<R> | undefined {
  let out: Row | undefined;
  for (const column of new Set([...Object.keys(before), ...Object.keys(next)])) {
    if (!same(before[column], next[column])) (out ??= {})[column] = next[column];
  }
  return out as Partial<R> | undefined;
}

/** A live collection's rows and the snapshot positions that decide which events are already in them. */
export class LiveCollection<R extends Row = Row> {
  private readonly rows = new Map<string, LiveItem<R>>();
  private ranges: PageRange[] = [];
  /** Once an event passes the newest page's position, no page can hide an event any more. */
  private newest = '0';
  private list: readonly LiveItem<R>[] | undefined;

  constructor(private readonly where: Condition[] = []) {}

  /** The rows, in snapshot order then arrival order; the same array until something changes. */
  get items(): readonly LiveItem<R>[] {
    return (this.list ??= [...this.rows.values()]);
  }

  get size(): number {
    return this.rows.size;
  }

  get(entity: string, key: string): LiveItem<R> | undefined {
    return this.rows.get(idOf(entity, key));
  }

  /**
   * Replaces every row with the snapshot `pages` (in the order they were read) and returns the difference:
   * a first load inserts everything; a reload after `reset` changes only what differs.
   * Returns where the stream must start: the smallest `lastEventId` of the pages.
   */
  replace(pages: SnapshotPage<R>[]): { changes: Change<R>[]; from: string } {
    const before = new Map(this.rows);
    const changes: Change<R>[] = [];
    this.rows.clear();
    this.ranges = [];
    let from: string | undefined;
    this.newest = '0';
    for (const page of pages) {
      for (const item of page.items) {
        const id = idOf(item.entity, item.key);
        this.rows.set(id, item);
        const was = before.get(id);
        before.delete(id);
        if (!was) changes.push({ kind: 'insert', item });
        else {
          const changed = diff(was.row, item.row);
          if (changed) changes.push({ kind: 'update', item, previous: was, changes: changed });
        }
      }
      const last = page.items.at(-1);
      const upper = page.next === null ? undefined : last ? { entity: last.entity, key: last.key } : this.ranges.at(-1)?.upper;
      this.ranges.push({ upper, lastEventId: page.lastEventId });
      if (from === undefined || compareIds(page.lastEventId, from) < 0) from = page.lastEventId;
      if (compareIds(page.lastEventId, this.newest) > 0) this.newest = page.lastEventId;
    }
    for (const item of before.values()) changes.push({ kind: 'delete', item });
    this.list = undefined;
    return { changes, from: from ?? '0' };
  }

  /** Whether the snapshot already reflects event `id` for this row (the duplicates rule). */
  private reflected(entity: string, key: string, id: string): boolean {
    if (this.ranges.length === 0) return false;
    if (compareIds(id, this.newest) > 0) {
      this.ranges = []; // the stream is past every page: nothing it sends from now on is in a snapshot
      return false;
    }
    const range = this.ranges.find((r) => !r.upper || compareKeys(entity, key, r.upper.entity, r.upper.key) <= 0);
    return range !== undefined && compareIds(id, range.lastEventId) <= 0;
  }

  /** Applies one change event; returns what it changed (nothing for an event the rows already reflect). */
  apply(event: ChangeEvent): Change<R>[] {
    if (event.op === 'reset') return []; // the caller refetches the snapshot (`replace`)
    if (event.op === 'truncate') return this.truncate(event);
    if (this.reflected(event.entity, event.key, event.id)) return [];
    const id = idOf(event.entity, event.key);
    const was = this.rows.get(id);
    const item: LiveItem<R> = {
      entity: event.entity,
      key: event.key,
      companyId: event.companyId,
      userId: event.userId,
      row: event.row as R,
    };
    if (event.op === 'delete' || !matchesWhere(this.where, item.row)) {
      if (!was) return [];
      this.rows.delete(id);
      this.list = undefined;
      return [{ kind: 'delete', item: was, eventId: event.id }];
    }
    this.rows.set(id, item);
    this.list = undefined;
    if (!was) return [{ kind: 'insert', item, eventId: event.id }];
    const changed = diff(was.row, item.row);
    return changed ? [{ kind: 'update', item, previous: was, changes: changed, eventId: event.id }] : [];
  }

  /** Every row of the event's entity is gone, except those whose page was read after the truncate. */
  private truncate(event: ChangeEvent): Change<R>[] {
    const changes: Change<R>[] = [];
    for (const [id, item] of this.rows) {
      if (item.entity !== event.entity || this.reflected(item.entity, item.key, event.id)) continue;
      this.rows.delete(id);
      changes.push({ kind: 'delete', item, eventId: event.id });
    }
    if (changes.length > 0) this.list = undefined;
    return changes;
  }
}
