import type { Logger } from '../log';
import { waitUnlessStopped } from '../wait';

/** Ends one resource; errors are logged, never thrown: the next releaser still runs. */
export type Releaser = () => unknown;

/**
 * One attempt of a supervised connection: everything the attempt creates (a
 * connection, a timer) is registered here the moment it exists and released,
 * newest first, when the attempt ends, whatever ended it (graphile-worker's
 * `withReleasers`). A resource registered after the end is released at once,
 * so an attempt that is still opening when stop() comes leaks nothing.
 */
export class Session {
  /** Resolves with why the session ended (undefined: stopped or closed without an error). */
  readonly ended: Promise<unknown>;
  private finish!: (reason: unknown) => void;
  private readonly releasers: Releaser[] = [];
  private over = false;
  private releasing: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly onHealthy: () => void,
  ) {
    this.ended = new Promise((resolve) => (this.finish = resolve));
  }

  /** False once the session ended: late callbacks of its connection must do nothing. */
  get active(): boolean {
    return !this.over;
  }

  /** Registers `release` to run when the session ends (at once if it already has); returns `resource`. */
  own<T>(resource: T, release: (resource: T) => unknown): T {
    this.defer(() => release(resource));
    return resource;
  }

  defer(release: Releaser): void {
    if (this.over) void this.run(release);
    else this.releasers.push(release);
  }

  /** `fn` every `ms` while the session lasts; the timer never keeps the process alive. */
  every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.defer(() => clearInterval(timer));
  }

  /** The part proved that it works (caught up, live): the supervisor's backoff and failure count start over. */
  healthy(): void {
    if (!this.over) this.onHealthy();
  }

  /** Ends the session (lost connection, failed check, stop): the supervisor releases it and tries again. */
  end(reason?: unknown): void {
    if (this.over) return;
    this.over = true;
    this.finish(reason);
  }

  /** Runs the releasers newest first, once. */
  release(): Promise<void> {
    this.end();
    this.releasing ??= (async () => {
      for (const release of this.releasers.splice(0).reverse()) await this.run(release);
    })();
    return this.releasing;
  }

  private async run(release: Releaser): Promise<void> {
    try {
      await release();
    } catch (err) {
      this.logger.warn({ err }, 'supervise: releasing a resource failed');
    }
  }
}

export interface SupervisorOptions {
  /** Prefix of the lifecycle log lines: `<name>:error`. */
  name: string;
  logger: Logger;
  /**
   * Opens one attempt: creates its resources (each registered on `session`),
   * and resolves once it holds; rejects when it cannot. The attempt then lasts
   * until something calls `session.end()` (its connection closed, a check
   * failed) or the supervisor stops.
   */
  open(session: Session): Promise<void>;
  /**
   * How long an attempt may take to open before it is given up (a route that accepts and closes
   * connections, such as a pooler or proxy in front of a dead server, leaves the driver retrying
   * forever). Unset: no bound (the listener's catch-up may take long).
   */
  openTimeoutMs?: number;
  /** Milliseconds to wait before the next attempt, `attempt` the count of attempts since the last healthy one (0-based). */
  delay(attempt: number): number;
  /** Errors that are the normal state of things (a standby's busy slot): not logged, not counted as failures. */
  expected?(error: unknown): boolean;
  /** Called after each attempt ended and was released, with why it ended (not after stop()). */
  onEnd?(reason: unknown): void;
}

/** What a supervisor knows about its attempts: what /readyz and the metrics report. */
export interface SupervisorHealth {
  /** Attempts in a row that ended with an unexpected error, since the last healthy one. */
  failures: number;
  /** The last such error's message. */
  lastError: string | undefined;
  /** When the first of those failures happened. */
  failingSince: Date | undefined;
  /** Attempts made since start. */
  attempts: number;
}

/**
 * The one supervised loop of pgfeed's long-lived connections (the listener's
 * LISTEN connection, the WAL capturer's replication stream): connect → hold →
 * back off with jitter → retry, until stop(). The part says how to open an
 * attempt and how long to wait; the supervisor owns the loop, the waits and
 * every attempt's resources.
 */
export class Supervisor {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private current: Session | undefined;
  private readonly stopping: Promise<void>;
  private signalStop!: () => void;
  private healthValue: SupervisorHealth = { failures: 0, lastError: undefined, failingSince: undefined, attempts: 0 };
  private attempt = 0;

  constructor(private readonly options: SupervisorOptions) {
    this.stopping = new Promise((resolve) => (this.signalStop = resolve));
  }

  get health(): SupervisorHealth {
    return this.healthValue;
  }

  /** Starts the loop (once). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Ends the current attempt, releases its resources and waits for the loop to end; idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.signalStop();
    await this.current?.release();
    await this.loop;
  }

  private recovered(): void {
    this.healthValue = { failures: 0, lastError: undefined, failingSince: undefined, attempts: this.healthValue.attempts };
  }

  private async run(): Promise<void> {
    const { logger, name } = this.options;
    while (!this.stopped) {
      const session = new Session(logger, () => {
        this.attempt = 0;
        this.recovered();
      });
      this.current = session;
      this.healthValue = { ...this.healthValue, attempts: this.healthValue.attempts + 1 };
      let reason: unknown;
      try {
        // An attempt still opening when its session ends (stop, a lost connection) is abandoned: its
        // resources are released below, and whatever it creates later is released at once.
        const { openTimeoutMs } = this.options;
        const timer =
          openTimeoutMs === undefined
            ? undefined
            : setTimeout(() => session.end(new Error(`${name}: not connected after ${openTimeoutMs} ms`)), openTimeoutMs);
        session.defer(() => clearTimeout(timer));
        await Promise.race([this.options.open(session), session.ended]);
        clearTimeout(timer);
        reason = await session.ended;
      } catch (error) {
        reason = error;
      }
      session.end(reason);
      await session.release();
      this.current = undefined;
      if (this.stopped) break;
      if (reason !== undefined && this.options.expected?.(reason)) {
        this.recovered(); // the part works as it should (a standby found the slot busy): nothing is failing
      } else if (reason !== undefined) {
        const { failures, failingSince } = this.healthValue;
        this.healthValue = {
          ...this.healthValue,
          failures: failures + 1,
          lastError: reason instanceof Error ? reason.message : String(reason),
          failingSince: failingSince ?? new Date(),
        };
        // The first failures are logged, then one in 30, so a long outage does not flood the log.
        if (failures < 3 || (failures + 1) % 30 === 0) logger.warn({ err: reason, attempt: this.attempt }, `${name}:error`);
      }
      this.options.onEnd?.(reason);
      const wait = this.options.delay(this.attempt);
      this.attempt = Math.min(this.attempt + 1, 30);
      await waitUnlessStopped(wait, this.stopping);
    }
  }
}

/** min(maxMs, minMs · 2^attempt), ±50 % jitter, so instances that lost the server together do not return together. */
export function exponentialBackoff(minMs: number, maxMs: number): (attempt: number) => number {
  return (attempt) => Math.min(maxMs, minMs * 2 ** attempt) * (0.5 + Math.random());
}

/** `ms` ±25 % jitter, every time: a standby's takeover attempts. */
export function steadyRetry(ms: number): () => number {
  return () => ms * (0.75 + Math.random() / 2);
}
