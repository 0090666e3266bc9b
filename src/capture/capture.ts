import type { Sql } from '../db/connect';
import type { EntityRegistry } from '../events/entity';
import type { CapturerRole, OwnDelivery } from './wal/capturer';
import { CaptureSetupError } from './wal/slot';

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

/** The one line an instance whose CAPTURE is not its database's mode stops with. */
function modeMismatch(mine: CaptureMode, database: string): CaptureSetupError {
  return new CaptureSetupError(
    `CAPTURE=${mine}, but this database captures with CAPTURE=${database}: all instances of a database use its mode. ` +
      `Start with CAPTURE=${database}, or switch the database first with \`pgfeed capture-mode --set ${mine}\` (docs/operations.md)`,
  );
}

/**
 * Refuses to start when the database has a capture mode and it is not `mode`
 * (a database no instance has started on yet has none). Before anything is
 * created for `mode`: a wal instance refused here leaves no slot behind.
 */
export async function checkMode(sql: Sql, mode: CaptureMode): Promise<void> {
  const [r] = await sql<{ mode: string | null }[]>`select mode from pgfeed.capture_state`;
  if (r?.mode && r.mode !== mode) throw modeMismatch(mode, r.mode);
}

/**
 * Claims `mode` for a database that has none yet (pgfeed.claim_capture; one
 * that has another refuses, as checkMode) and watches every registered
 * entity's table (pgfeed.watch: a no-op when already watched so, on the
 * current path). Switching a database's mode is an explicit step
 * (pgfeed.set_capture, `pgfeed capture-mode`), never a side effect of a start:
 * two paths drawing ids at once would break commit order.
 */
export async function watchEntities(sql: Sql, entities: EntityRegistry, mode: CaptureMode): Promise<void> {
  const [r] = await sql<{ mode: string }[]>`select pgfeed.claim_capture(${mode}) as mode`;
  if (r?.mode !== mode) throw modeMismatch(mode, r?.mode ?? '?');
  for (const e of entities.all()) {
    await sql`select pgfeed.watch(${e.table}::regclass, company_column => ${e.companyColumn ?? 'company_id'},
      user_column => ${e.userColumn ?? null}, key_column => ${e.keyColumn ?? 'id'}, entity => ${e.name})`;
  }
}
