import type { CaptureSkip, CapturerRole, CapturerSettings } from './capturer';

/**
 * The messages between the main thread and its capture worker
 * (capture-thread.ts, capture-worker.ts). Both ends are pgfeed's own code
 * of the same build, so they are typed, not parsed.
 */

/** What the worker is started with (workerData). */
export interface CaptureJob extends CapturerSettings {
  /** The query pool's route (DATABASE_URL): appends, slot checks. */
  poolUrl: string;
  /** The main logger's level: lines below it are not even sent. */
  logLevel: string;
}

/** The worker's capturer as the main thread mirrors it (Dates as epoch milliseconds). */
export interface CaptureState {
  role: CapturerRole;
  failures: number;
  lastError: string | undefined;
  failingSince: number | undefined;
  /** Attempts this worker made since it started. */
  attempts: number;
  /** Commit time of the oldest change received and not yet appended (null: none). */
  pendingSince: number | null;
}

export type FromWorker =
  | { t: 'state'; state: CaptureState; queries: number }
  | { t: 'appended'; changes: number }
  | { t: 'skipped'; skip: CaptureSkip }
  /** An append with events for the own listener started (sent before its query, so before its NOTIFY). */
  | { t: 'own'; seq: number }
  /** What that append wrote (null: it failed, or wrote none). */
  | { t: 'ownEvents'; seq: number; events: readonly unknown[] | null }
  /** One log line as pino wrote it (JSON). */
  | { t: 'log'; line: string }
  /** stop() finished: the capturer and the pool are closed. */
  | { t: 'stopped' };

export type ToWorker =
  /** Whether the main thread has a listener to hand appended events to. */
  { t: 'own'; on: boolean } | { t: 'stop' };
