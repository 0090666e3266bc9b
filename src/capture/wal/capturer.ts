import { EventEmitter } from 'node:events';
import type { Sql } from '../../db/connect';
import { isDataError } from '../../db/errors';
import type { Logger } from '../../log';
import { ALL, type Change, type WalPosition, after, append, appliedPosition } from './appender';
import { type Message, type Relation, formatLsn, parseLsn, rowValues } from './pgoutput';
import { ReplicationStream } from './replication';
import { PG_OBJECT_IN_USE, ensureSlot, slotState } from './slot';
import { type Session as Lifetime, Supervisor, type SupervisorHealth, steadyRetry } from '../../db/supervise';

/** standby: another instance holds the slot (this one tries again every takeoverMs); capturing: this one holds it. */
export type CapturerRole = 'idle' | 'standby' | 'capturing' | 'stopped';

/** What a capturer is told; plain values, so a capture worker thread can be handed them (see capture-thread.ts). */
export interface CapturerSettings {
  /** The replication connection's route (CAPTURE_DATABASE_URL, else DATABASE_URL). */
  databaseUrl: string;
  slot: string;
  publication: string;
  /** Changes per append transaction (a bigger transaction is split, its position kept per change). */
  batch: number;
  /**
   * Under load (more than one transaction arrived while an append ran), how
   * long to let the next batch fill before appending it. Each append costs the
   * database a fixed amount (its commit, NOTIFY, the other instances' read)
   * whatever its size; fewer, bigger appends leave that CPU to the writers. A
   * lone transaction is appended at once.
   */
  lingerMs: number;
  /** Silence on the stream after which the capturer checks that the server still hears it (see `checkHeard`). */
  heartbeatMs: number;
  /** How often a standby tries to take the slot, and the wait after a failure. */
  takeoverMs: number;
  /**
   * How often the capturing instance, when it has nothing to append, writes a
   * heartbeat through the slot (see HEARTBEAT_PREFIX); 0: never.
   */
  slotHeartbeatMs: number;
}

/** A change the database refused to append even alone: what Skips records for it. */
export interface CaptureSkip {
  entity: string;
  reason: string;
  message: string;
  last: string;
}

export interface CapturerOptions extends CapturerSettings {
  /** The query pool: appends and slot checks. */
  sql: Sql;
  logger: Logger;
  /** Called after each append committed, with the changes it carried. */
  onAppended(changes: number): void;
  /**
   * Where this instance's own listener takes the events of an append (see
   * Listener.deliverOwn), or null while it has none. It is handed the append
   * in flight, before its NOTIFY can arrive.
   */
  ownDelivery(): OwnDelivery | null;
  /** Called for a change the database refused to append even alone (see `appendAlone`): it was skipped. */
  onSkipped(skip: CaptureSkip): void;
}

/** What WalCapture needs of a capturer, whether it runs on this thread (Capturer) or in a worker (CaptureThread). */
export interface CapturerRunner extends EventEmitter<{ role: [CapturerRole] }> {
  readonly role: CapturerRole;
  readonly health: SupervisorHealth;
  lagSeconds(): number;
  start(): void;
  stop(): Promise<void>;
  /** `ownDelivery()` may answer differently now; a capturer that reads it on each append need not hear it. */
  ownChanged?(): void;
}

/** Seconds from `since` to now (0 for null). */
export function lagSecondsSince(since: Date | null): number {
  return since ? Math.max(0, (Date.now() - since.getTime()) / 1000) : 0;
}

/** The skip record of a change PostgreSQL refused with `error`. */
export function describeSkip(change: Change, error: unknown): CaptureSkip {
  const at = `${formatLsn(change.lsn)}/${change.seq}`;
  return {
    entity: `${change.relation.schema}.${change.relation.table}`,
    reason: String((error as { code?: unknown }).code ?? 'error'),
    message: `${change.op} at ${at}: ${error instanceof Error ? error.message : String(error)}`,
    last: at,
  };
}

/** Takes the events an append wrote (as pgfeed.event_json writes them, in id order), once it has committed. */
export type OwnDelivery = (events: Promise<readonly unknown[] | null>) => void;

/**
 * Batches whose rows (as record literals) exceed this are not handed back to
 * the own listener: the append would hold them in memory twice, and the
 * listener reads them from the log as any other instance does.
 */
const OWN_DELIVERY_MAX_BYTES = 4 * 1024 * 1024;

type Queued = Change | { commit: true; lsn: bigint; endLsn: bigint; committedAt: Date; sync: boolean };

/**
 * A transaction that emits a logical message with this prefix
 * (`pg_logical_emit_message(true, 'pgfeed.sync', '')`) moves pgfeed.capture_state's
 * applied position past it even though it changes no watched row: a way to
 * wait until everything committed before it is in the log.
 */
export const SYNC_PREFIX = 'pgfeed.sync';

/**
 * The slot heartbeat (Debezium's heartbeat.action.query): while the watched
 * database is idle, the capturing instance emits a logical message with this
 * prefix every `slotHeartbeatMs`. Decoded like a sync, it moves the applied
 * position, pgfeed.capture_state.applied_at and the slot's confirmed position to
 * now: "seconds behind" stays meaningful when nothing changes, and the slot
 * moves through a transaction of its own database instead of depending on
 * the walsender's keepalives alone (see `keepalive`) to let go of the WAL
 * other databases and unwatched tables write.
 */
export const HEARTBEAT_PREFIX = 'pgfeed.heartbeat';

const STATUS_INTERVAL_MS = 5000;

/**
 * The WAL capturer. Every instance in wal mode runs one; the slot admits one
 * streaming connection at a time, so exactly one captures and the others
 * retry every `takeoverMs` (PostgreSQL frees the slot as soon as the holder's
 * connection dies). The holder decodes committed transactions in commit order
 * and appends them to the log in batches; it confirms a transaction to the
 * slot only after the batch holding its end committed, so a crash replays
 * it, and wal_append skips what the log already holds.
 */
export class Capturer extends EventEmitter<{ role: [CapturerRole] }> implements CapturerRunner {
  private roleValue: CapturerRole = 'idle';
  private readonly supervisor: Supervisor;
  private lagSince: Date | null = null;

  constructor(private readonly options: CapturerOptions) {
    super();
    this.supervisor = new Supervisor({
      name: 'capture',
      logger: options.logger,
      open: (lifetime) => this.capture(lifetime),
      delay: steadyRetry(options.takeoverMs),
      // Taking the slot is a few queries and a connection: one that hangs is as dead as a silent stream.
      openTimeoutMs: Math.max(options.heartbeatMs, 2000),
      // A busy slot is the normal state of a standby, not a failure.
      expected: (error) => (error as { code?: string }).code === PG_OBJECT_IN_USE,
      onEnd: (reason) => {
        if (this.roleValue === 'capturing') options.logger.warn({ err: reason }, 'capture:lost');
        this.setRole('standby');
      },
    });
  }

  get role(): CapturerRole {
    return this.roleValue;
  }

  /** Attempts in a row that failed (not counting a busy slot), and the last error: what /readyz reports. */
  get health(): SupervisorHealth {
    return this.supervisor.health;
  }

  /** Seconds since the oldest change this capturer has received but not yet appended committed (0 when none). */
  lagSeconds(): number {
    return lagSecondsSince(this.lagSince);
  }

  /** Commit time of the oldest change received and not yet appended (null: none). */
  get pendingSince(): Date | null {
    return this.lagSince;
  }

  start(): void {
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    this.setRole('stopped');
    await this.supervisor.stop();
  }

  private stopped(): boolean {
    return this.roleValue === 'stopped';
  }

  private setRole(role: CapturerRole): void {
    if (this.roleValue === role || this.stopped()) return;
    this.roleValue = role;
    this.emit('role', role);
  }

  /** Takes the slot and streams from it until `lifetime` ends; rejects when it cannot take it. */
  private async capture(lifetime: Lifetime): Promise<void> {
    const { sql, slot, logger } = this.options;
    const state = await slotState(sql, slot);
    if (state !== 'ok') await this.recreate(state === 'lost' ? 'invalidated' : 'missing');

    const applied = await appliedPosition(sql);
    // Caught up (a healthy attempt) means: the stream got past everything written before it started.
    const [now] = await sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
    if (!lifetime.active) return;
    const session = new Session(this.options, applied, (since) => (this.lagSince = since), lifetime, parseLsn(now!.lsn));
    lifetime.defer(() => (this.lagSince = null));
    const stream = lifetime.own(
      await ReplicationStream.open(this.options.databaseUrl, slot, this.options.publication, session),
      (s) => s.close(),
    );
    // Released before the stream closes: the append in flight finishes (a session that ends keeps
    // nothing else: the slot replays the rest).
    lifetime.defer(() => session.drain());
    if (!lifetime.active) return;
    session.attach(stream);
    this.setRole('capturing');
    logger.info({ slot, from: formatLsn(session.applied.lsn) }, 'capture:started');
  }

  private async recreate(reason: 'invalidated' | 'missing'): Promise<void> {
    const { sql, slot, logger } = this.options;
    // Only a lost slot is dropped, and only the instance that creates the new
    // one reports the gap, so instances racing here do it once.
    await sql`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = ${slot} and wal_status = 'lost'`;
    if (!(await ensureSlot(sql, slot))) return;
    logger.error(
      { slot, reason },
      `capture: replication slot ${reason}; re-created it. Changes committed meanwhile are not in the log: every stream gets a reset`,
    );
    await sql`select pgfeed.wal_gap()`;
  }
}

/** One streaming session: decode, queue, append in batches, confirm. */
class Session {
  onEnd: (error: unknown) => void = () => {};
  private stream: ReplicationStream | undefined;
  private readonly relations = new Map<number, Relation>();
  private readonly queue: Queued[] = [];
  private tx: { lsn: bigint; seq: number; committedAt: Date; sync: boolean } | undefined;
  private flushing: Promise<void> | undefined;
  /** A kick came while `flushing` was set: look at the queue again once that flush is over. */
  private kickedWhileFlushing = false;
  private confirmed = 0n;
  private failed = false;
  private paused = false;
  /** Ends the linger early: the batch is full, or the session ends. */
  private filled: (() => void) | undefined;
  private lastHeard = Date.now();
  /** The server's `reply_time` for this stream at the last check during a silence (undefined: none yet). */
  private replySeen: string | undefined;
  private checking = false;

  constructor(
    private readonly options: CapturerOptions,
    /** What the log held when the session started: changes up to it are skipped. */
    readonly applied: WalPosition,
    private readonly lag: (since: Date | null) => void,
    /** The supervised attempt this session streams in: it owns the timers and ends with the session. */
    private readonly lifetime: Lifetime,
    /** The server's WAL position when the session started: a keepalive past it with nothing queued is caught up. */
    private readonly startedAt: bigint,
  ) {
    this.onEnd = (error) => lifetime.end(error ?? new Error('replication stream ended'));
    // The walsender drops a client that stays silent for wal_sender_timeout; and at least two status
    // updates per heartbeat period let checkHeard see them arrive.
    const statusMs = Math.min(STATUS_INTERVAL_MS, Math.max(50, Math.floor(options.heartbeatMs / 2)));
    lifetime.every(statusMs, () => this.stream?.confirm(this.confirmed));
    lifetime.every(options.heartbeatMs, () => void this.checkHeard());
    if (options.slotHeartbeatMs > 0) lifetime.every(options.slotHeartbeatMs, () => void this.beat());
  }

  /** Writes the slot heartbeat when there is nothing else to append (a busy session moves the slot anyway). */
  private async beat(): Promise<void> {
    if (this.tx || this.queue.length > 0 || this.flushing || this.failed) return;
    try {
      await this.options.sql`select pg_logical_emit_message(true, ${HEARTBEAT_PREFIX}, '')`;
    } catch (err) {
      this.options.logger.warn({ err }, 'capture: slot heartbeat failed');
    }
  }

  /**
   * A connection that went half-open (a dead peer, a black-holed route)
   * raises no error, and an idle server sends nothing either, so silence alone
   * proves nothing. After heartbeatMs of silence the capturer asks the server,
   * through the query pool, about the walsender serving this stream: when it
   * is gone, or the `reply_time` of the status updates it sends every few seconds
   * has not moved since the previous check, the server no longer hears this
   * connection, and the session ends so the capturer reconnects. (A server
   * busy decoding a large backlog is silent too but still reads our replies,
   * so it is left alone; reply times are compared with each other, not with
   * a clock, so skew between the hosts does not matter.)
   */
  private async checkHeard(): Promise<void> {
    if (this.paused || Date.now() - this.lastHeard < this.options.heartbeatMs) {
      this.replySeen = undefined;
      return;
    }
    const pid = this.stream?.backendPid;
    if (this.checking || pid === undefined) return;
    this.checking = true;
    try {
      const rows = await this.options.sql<{ reply: string | null }[]>`
        select reply_time::text as reply from pg_stat_replication where pid = ${pid}`;
      const reply = rows[0] ? (rows[0].reply ?? 'none') : undefined;
      if (reply === undefined || reply === this.replySeen) {
        this.end(new Error(`replication stream silent for ${Date.now() - this.lastHeard} ms and the server no longer hears it`));
      }
      this.replySeen = reply;
    } catch {
      // The query pool cannot reach the database either: nothing to learn about this connection.
    } finally {
      this.checking = false;
    }
  }

  attach(stream: ReplicationStream): void {
    this.stream = stream;
  }

  message(m: Message): void {
    this.lastHeard = Date.now();
    switch (m.tag) {
      case 'relation':
        this.relations.set(m.relation.id, m.relation);
        return;
      case 'begin':
        this.tx = { lsn: m.finalLsn, seq: 0, committedAt: m.commitTime, sync: false };
        return;
      case 'insert':
        return this.push(m.relationId, 'insert', rowValues(m.new), null);
      case 'update':
        return this.push(m.relationId, 'update', rowValues(m.new, m.old), m.old && rowValues(m.old));
      case 'delete':
        return this.push(m.relationId, 'delete', null, m.old && rowValues(m.old));
      case 'truncate':
        for (const id of m.relationIds) this.push(id, 'truncate', null, null);
        return;
      case 'message':
        if (this.tx && (m.prefix === SYNC_PREFIX || m.prefix === HEARTBEAT_PREFIX)) this.tx.sync = true;
        return;
      case 'commit': {
        const tx = this.tx;
        this.tx = undefined;
        if (!tx) return;
        this.queue.push({ commit: true, lsn: tx.lsn, endLsn: m.endLsn, committedAt: tx.committedAt, sync: tx.sync });
        this.kick();
        return;
      }
      default:
        return;
    }
  }

  keepalive(walEnd: bigint, replyRequested: boolean): void {
    this.lastHeard = Date.now();
    // With nothing received and unapplied, everything before walEnd that
    // concerns pgfeed is in the log: confirm it, so the slot does not hold
    // WAL written by other databases or unwatched tables.
    if (!this.tx && this.queue.length === 0 && !this.flushing) {
      if (walEnd > this.confirmed) this.confirmed = walEnd;
      // Caught up. (The walsender may send a keepalive before it replays anything: that one proves
      // nothing, or a change whose append fails on every attempt would never count as failing.)
      if (walEnd >= this.startedAt) this.lifetime.healthy();
    }
    if (replyRequested || walEnd === this.confirmed) this.stream?.confirm(this.confirmed);
  }

  end(error?: unknown): void {
    this.onEnd(error);
  }

  /** Waits for the append in flight (a session that ends keeps nothing: the slot replays the rest). */
  async drain(): Promise<void> {
    this.failed = true;
    this.filled?.();
    await this.flushing;
  }

  private push(relationId: number, op: Change['op'], newRow: string | null, oldRow: string | null): void {
    const tx = this.tx;
    if (!tx) return;
    tx.seq++;
    if (!after({ lsn: tx.lsn, seq: tx.seq }, this.applied)) return; // the log holds it already
    // The description in force now, not the table's current one: pgoutput sends a new one after ALTER TABLE.
    const relation = this.relations.get(relationId);
    if (!relation) throw new Error(`pgoutput: change of unknown relation ${relationId}`);
    this.queue.push({ lsn: tx.lsn, seq: tx.seq, relation, op, newRow, oldRow, committedAt: tx.committedAt });
    if (this.queue.length === 1) this.lag(tx.committedAt);
    if (this.queue.length >= this.options.batch) {
      this.filled?.();
      this.kick();
    }
    if (!this.paused && this.queue.length >= this.options.batch * 4) {
      this.paused = true;
      this.stream?.pause();
    }
  }

  private kick(): void {
    if (this.failed) return;
    if (this.flushing) {
      this.kickedWhileFlushing = true;
      return;
    }
    this.kickedWhileFlushing = false;
    // `flushing` is cleared a microtask after flush() ends, and a flush that has
    // nothing to append (only changes the log already holds, as after a lost
    // connection; or a transaction with no watched change) ends without ever
    // waiting. Messages that arrived in the same socket read are decoded in that
    // same synchronous run, after flush() looked at the queue for the last time:
    // their kicks land here while `flushing` is still set. Without a second look
    // their transactions would sit in the queue until the next commit arrived
    // (seconds, or forever on a quiet database).
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      if (this.kickedWhileFlushing) this.kick();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0 && !this.failed) {
      const changes: Change[] = [];
      let done: WalPosition | undefined;
      let doneAt: Date | null = null;
      let ack: bigint | undefined;
      let taken = 0;
      let sync = false;
      let bytes = 0;
      for (const item of this.queue) {
        if ('commit' in item) {
          sync ||= item.sync;
          done = { lsn: item.lsn, seq: ALL };
          doneAt = item.committedAt;
          ack = item.endLsn;
        } else {
          if (changes.length >= this.options.batch) break;
          changes.push(item);
          bytes += (item.newRow?.length ?? 0) + (item.oldRow?.length ?? 0);
          done = { lsn: item.lsn, seq: item.seq };
        }
        taken++;
      }
      // Only whole transactions or full batches leave the queue: the rest of a transaction is still arriving.
      if (ack === undefined && changes.length < this.options.batch) return;
      try {
        if (changes.length > 0 || sync) {
          const own = changes.length > 0 && bytes <= OWN_DELIVERY_MAX_BYTES ? this.options.ownDelivery() : null;
          const appending = append(this.options.sql, changes, done!, doneAt, own !== null);
          own?.(
            appending.then(
              (a) => a.events,
              () => null,
            ),
          );
          await appending.catch((error: unknown) => {
            if (!isDataError(error)) throw error;
            return this.appendAlone(changes, done!, doneAt, error);
          });
          this.options.onAppended(changes.length);
          this.lifetime.healthy();
        }
      } catch (error) {
        this.failed = true;
        this.options.logger.error({ err: error }, 'capture: append failed');
        this.onEnd(error);
        return;
      }
      this.queue.splice(0, taken);
      const busy = this.transactionsQueued() > 1;
      if (ack !== undefined && ack > this.confirmed) {
        this.confirmed = ack;
        this.stream?.confirm(ack);
      }
      const next = this.queue.find((q): q is Change => !('commit' in q));
      this.lag(next?.committedAt ?? null);
      if (this.paused && this.queue.length < this.options.batch) {
        this.paused = false;
        this.lastHeard = Date.now(); // silence while paused was ours
        this.stream?.resume();
      }
      if (busy && this.options.lingerMs > 0 && this.queue.length < this.options.batch) await this.linger();
    }
  }

  /**
   * A batch the database refused for what it carries: each change on its own,
   * in order, so one that cannot be appended (a value its column type no
   * longer reads, say) is skipped, reported and passed, and the rest reach
   * the log. Without this the same batch would fail on every retry and
   * nothing after it would ever be captured.
   */
  private async appendAlone(changes: readonly Change[], done: WalPosition, doneAt: Date | null, first: unknown): Promise<void> {
    const { sql, logger } = this.options;
    logger.warn({ err: first, changes: changes.length }, 'capture: batch refused; appending its changes one by one');
    for (const c of changes) {
      const at: WalPosition = { lsn: c.lsn, seq: c.seq };
      try {
        await append(sql, [c], at, null, false);
      } catch (error) {
        if (!isDataError(error)) throw error;
        await append(sql, [], at, null, false); // moves the position past it
        this.options.onSkipped(describeSkip(c, error));
      }
    }
    await append(sql, [], done, doneAt, false);
  }

  /** Whole transactions waiting in the queue, counted up to 2. */
  private transactionsQueued(): number {
    let n = 0;
    for (const q of this.queue) if ('commit' in q && ++n > 1) break;
    return n;
  }

  private linger(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.filled?.(), this.options.lingerMs);
      this.filled = () => {
        clearTimeout(timer);
        this.filled = undefined;
        resolve();
      };
    });
  }
}
