import type { Sql } from '../db/connect';
import type { EntityRegistry } from '../events/entity';
import type { CapturerRole, OwnDelivery } from './wal/capturer';

/** How changes reach pgfeed.events: row triggers + NOTIFY, or logical replication. */
export type CaptureMode = 'trigger' | 'wal';

export interface CaptureStatus {
  mode: CaptureMode;
  /** wal mode: whether this instance holds the slot (capturing) or waits to take over (standby). */
  role?: CapturerRole;
  slot?: string;
  /** wal mode: attempts in a row that failed (a busy slot is not a failure); from CAPTURE_FAILURES_NOT_READY on, not ready. */
  failures?: number;
  /** wal mode, while failing: the last error, and when the failures began. */
  error?: string;
  failingSince?: string;
}

/** The replaceable part of the core that fills the log; everything after the log is shared. */
export interface Capture {
  readonly mode: CaptureMode;
  /** Puts the registered entities' tables on this capture path and starts capturing. */
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): CaptureStatus;
  /**
   * wal: hand the events this instance appends to `own` (its listener) as
   * soon as each append commits, besides the log and the NOTIFY every
   * instance gets. Trigger capture has no such path: writers append.
   */
  deliverOwnTo?(own: OwnDelivery): void;
}

/**
 * Switches the database to `mode` (a no-op when it is already there) and
 * watches every registered entity's table (pgfeed.watch: a no-op when already
 * watched so, on the current path).
 */
export async function watchEntities(sql: Sql, entities: EntityRegistry, mode: CaptureMode): Promise<void> {
  await sql`select pgfeed.set_capture(${mode})`;
  for (const e of entities.all()) {
    await sql`select pgfeed.watch(${e.table}::regclass, company_column => ${e.companyColumn ?? 'company_id'},
      user_column => ${e.userColumn ?? null}, key_column => ${e.keyColumn ?? 'id'}, entity => ${e.name})`;
  }
}
