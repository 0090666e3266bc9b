import type postgres from 'postgres';
import { decodeEvent } from './decode';
import type { EntityRegistry } from './entity';
import { type Position, formatPosition } from './position';
import type { ChangeEvent } from './schema';
import type { Skips } from './skips';
import { Slicer } from '../slicer';

/** The pool or a transaction: anything that runs a tagged-template query. */
type Queryable = postgres.Sql | postgres.TransactionSql;

/**
 * The newest position of the log: the newest event id, or the prune horizon
 * when the log is empty. Read inside a snapshot's transaction it is exactly
 * what that snapshot reflects (ids are drawn in commit order).
 */
export async function logHead(sql: Queryable): Promise<Position> {
  const [r] = await sql<{ head: string }[]>`
    select coalesce((select max(id) from pgfeed.events), (select pruned_through from pgfeed.horizon))::text as head`;
  return BigInt(r?.head ?? '0');
}

export type PositionStatus = 'ok' | 'expired' | 'unknown';

/** The events one stream may see and asked for. */
export interface LogFilter {
  companyId: string;
  userId?: string;
  entities?: ReadonlySet<string>;
  keys?: ReadonlySet<string>;
}

/** A page of the log: the events delivered, and the id of the last row read (delivered or skipped). */
export interface LogPage {
  events: ChangeEvent[];
  /** The newest id read; `from` when nothing was. Reading on from here never meets a skipped event again. */
  through: Position;
  /** Fewer rows than asked for: the end of the log (for this filter). */
  end: boolean;
}

/**
 * The durable event log, `pgfeed.events`, read in id order (= commit order).
 * A stored event that cannot be decoded is skipped and reported to `skips`
 * (without one: skipped silently), in every read: catch-up, replay, single reads.
 */
export class EventLog {
  constructor(
    private readonly sql: postgres.Sql,
    private readonly entities: EntityRegistry,
    private readonly skips?: Skips,
  ) {}

  head(): Promise<Position> {
    return logHead(this.sql);
  }

  /**
   * Events after `from`, at most `limit`: all of them (catch-up), or only
   * those a stream may see and asked for (replay), so a replay never reads
   * rows it would drop.
   */
  async readAfter(from: Position, limit: number, only?: LogFilter): Promise<ChangeEvent[]> {
    // Skipped rows do not shorten a page: a page shorter than `limit` still means the end of the log,
    // so readers that page on (replays) go past a bad event instead of stopping at it.
    const events: ChangeEvent[] = [];
    let at = from;
    for (;;) {
      const page = await this.readPage(at, limit - events.length, only);
      events.push(...page.events);
      at = page.through;
      if (page.end || events.length >= limit) return events;
    }
  }

  /** At most `limit` rows after `from`, decoded; see LogPage. */
  async readPage(from: Position, limit: number, only?: LogFilter): Promise<LogPage> {
    const after = formatPosition(from);
    const sql = this.sql;
    // TRUNCATE and reset records (wal capture) belong to no company and reach every stream
    // that carries their entity (reset: every stream), as `matches` decides live.
    const rows = await sql<{ e: unknown }[]>`
      select pgfeed.event_json(e) as e from pgfeed.events e
       where e.id > ${after}::bigint
         ${only ? sql`and (e.company_id = ${only.companyId} or (e.company_id is null and e.op in ('truncate', 'reset')))` : sql``}
         ${only?.userId !== undefined ? sql`and (e.user_id = ${only.userId} or e.op in ('truncate', 'reset'))` : sql``}
         ${only?.entities ? sql`and (e.entity = any(${[...only.entities]}::text[]) or e.op = 'reset')` : sql``}
         ${only?.keys ? sql`and (e.key = any(${[...only.keys]}::text[]) or e.op in ('truncate', 'reset'))` : sql``}
       order by e.id limit ${limit}`;
    const events: ChangeEvent[] = [];
    let through = from;
    // Decoding a page is validation of every row: in slices, so a busy instance is not stalled by it.
    const slicer = new Slicer();
    for (const r of rows) {
      if (slicer.due()) await slicer.turn();
      const event = this.decode(r.e);
      if (event) events.push(event);
      through = BigInt((r.e as { id: string }).id);
    }
    return { events, through, end: rows.length < limit };
  }

  /** One event (for NOTIFY payloads that were too large to carry it); undefined when absent or skipped. */
  async read(id: Position): Promise<ChangeEvent | undefined> {
    const [r] = await this.sql<{ e: unknown }[]>`
      select pgfeed.event_json(e) as e from pgfeed.events e where e.id = ${formatPosition(id)}::bigint`;
    return r ? this.decode(r.e) : undefined;
  }

  /** The decode policy (Skips): an event that does not decode is reported and left out. */
  decode(stored: unknown): ChangeEvent | undefined {
    const d = decodeEvent(stored, this.entities);
    if (d.ok) return d.event;
    this.skips?.record('decode', { entity: d.entity, reason: d.reason, message: d.message, last: d.id });
    return undefined;
  }

  /**
   * Whether a resume from `position` can be answered: it must be an event id
   * the log holds, or exactly the prune horizon. Older is expired.
   */
  async status(position: Position): Promise<PositionStatus> {
    const [r] = await this.sql<{ known: boolean; horizon: string }[]>`
      select exists (select 1 from pgfeed.events where id = ${formatPosition(position)}::bigint) as known,
             (select pruned_through from pgfeed.horizon)::text as horizon`;
    if (!r) return 'unknown';
    if (r.known || position === BigInt(r.horizon)) return 'ok';
    return position < BigInt(r.horizon) ? 'expired' : 'unknown';
  }

  /**
   * Deletes events older than `retentionMs`, `batch` at a time so writers
   * never wait on it, moving the horizon in the same transaction as each
   * batch. Returns how many were deleted.
   *
   * `committed_at` grows with id (both follow commit order, up to clock
   * jitter or a clock stepped back), so what expires is a prefix of the log:
   * each batch walks the primary key from the oldest event and stops at the
   * first one not older than the cutoff, then deletes through the newest id
   * it passed. Never a later event while an older id stays, and no index on
   * `committed_at` for every captured change to maintain (sql/000001_pgfeed.sql).
   */
  async prune(retentionMs: number, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await this.sql.begin(async (tx) => {
        // `newer` counts the too-new events walked so far; the filter on it is the
        // WindowAgg's run condition (PostgreSQL 15+), which ends the walk at the
        // first one, so a prune with nothing to do reads one or two rows. The
        // limit bounds the walk on any version.
        const [r] = await tx<{ count: number; newest: string | null }[]>`
          with gone as (
            delete from pgfeed.events where id <= (
              select max(id) from (
                select id, count(*) filter (where committed_at >= now() - ${retentionMs} * interval '1 millisecond')
                             over (order by id) as newer
                  from (select id, committed_at from pgfeed.events order by id limit ${batch}) oldest
              ) walked where newer = 0
            ) returning id
          )
          select count(*)::int as count, max(id)::text as newest from gone`;
        if (!r || r.count === 0 || r.newest === null) return 0;
        await tx`update pgfeed.horizon set pruned_through = greatest(pruned_through, ${r.newest}::bigint)`;
        return r.count;
      });
      total += deleted;
      if (deleted < batch) return total;
    }
  }
}
