import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log';
import { type Session, Supervisor, type SupervisorHealth, exponentialBackoff } from '../../db/supervise';
import { type CaptureSkip, type CapturerRole, type CapturerRunner, type OwnDelivery, lagSecondsSince } from './capturer';
import type { CaptureJob, CaptureState, FromWorker, ToWorker } from './thread-messages';

export interface CaptureThreadOptions {
  job: Omit<CaptureJob, 'logLevel'>;
  logger: Logger;
  onAppended(changes: number): void;
  onSkipped(skip: CaptureSkip): void;
  /** Queries the worker's pool sent (for pgfeed_db_queries_total). */
  onQueries(count: number): void;
  ownDelivery(): OwnDelivery | null;
}

/** How long a stopping worker may take to close its connections and exit by itself before it is terminated. */
const STOP_WAIT_MS = 5000;
/** Restarts of a worker that died: from this, doubling up to the maximum, with jitter. */
const RESTART_MIN_MS = 250;
const RESTART_MAX_MS = 30_000;
/** A worker reports its first state as soon as its module has loaded; one that has not by then is given up. */
const LOAD_TIMEOUT_MS = 30_000;

/**
 * The worker file, and how to start it: the compiled .js in dist; under
 * ts-jest or tsx the .ts source, which a worker can only load through tsx's
 * require hook (Node 20 does not apply `--import` loaders to workers).
 */
function spawn(job: CaptureJob): Worker {
  const file = __filename.replace(/capture-thread\.([jt]s)$/, 'capture-worker.$1');
  if (!file.endsWith('.ts')) return new Worker(file, { workerData: job });
  const tsx = require.resolve('tsx/cjs');
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(file)});`, { eval: true, workerData: job });
}

/**
 * The WAL capturer in a worker thread of its own (CAPTURE_THREAD, the
 * default). The main thread writes to thousands of sockets per event; on the
 * same event loop the replication stream's reads and each append's round
 * trip waited behind that fan-out, twice per append. In the worker they do
 * not, and only the appended events come back, once, by postMessage, ahead
 * of their NOTIFY as before (Listener.deliverOwn).
 *
 * The worker is supervised like a connection: if it dies (an uncaught error,
 * out of memory) the attempt ends, the failure counts towards /readyz, and a
 * new worker starts after a backoff; its capturer resumes from the slot, which
 * only ever confirms what the log holds, so nothing is lost. Its state (role,
 * health, lag) is mirrored here from the messages it sends.
 */
export class CaptureThread extends EventEmitter<{ role: [CapturerRole] }> implements CapturerRunner {
  private readonly supervisor: Supervisor;
  private state: CaptureState = emptyState('idle');
  /** Attempts of the workers that ended, so the count keeps growing across restarts. */
  private attemptsBefore = 0;
  private stopping = false;
  private worker: Worker | undefined;

  constructor(private readonly options: CaptureThreadOptions) {
    super();
    this.supervisor = new Supervisor({
      name: 'capture-thread',
      logger: options.logger,
      open: (session) => this.open(session),
      delay: exponentialBackoff(RESTART_MIN_MS, RESTART_MAX_MS),
      openTimeoutMs: LOAD_TIMEOUT_MS,
      onEnd: () => {
        this.attemptsBefore += this.state.attempts;
        this.mirror(emptyState(this.stopping ? 'stopped' : 'standby'));
      },
    });
  }

  get role(): CapturerRole {
    return this.state.role;
  }

  /** The worker's capture health; while workers keep dying, those failures. */
  get health(): SupervisorHealth {
    const own = this.supervisor.health;
    const attempts = this.attemptsBefore + this.state.attempts;
    if (own.failures > 0) return { ...own, attempts };
    const { failures, lastError, failingSince } = this.state;
    return { failures, lastError, failingSince: failingSince === undefined ? undefined : new Date(failingSince), attempts };
  }

  lagSeconds(): number {
    const since = this.state.pendingSince;
    return lagSecondsSince(since === null ? null : new Date(since));
  }

  start(): void {
    this.supervisor.start();
  }

  /** The main thread gained or lost its listener (WalCapture.deliverOwnTo, stop): the worker asks for events only while there is one. */
  ownChanged(): void {
    this.worker?.postMessage({ t: 'own', on: this.options.ownDelivery() !== null } satisfies ToWorker);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.supervisor.stop();
    this.mirror(emptyState('stopped'));
  }

  /** Starts a worker and resolves once it reports its first state; its death ends `session`. */
  private async open(session: Session): Promise<void> {
    const { logger } = this.options;
    const worker = spawn({ ...this.options.job, logLevel: logger.level });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    /** Own-delivery promises waiting for their append, by sequence number. */
    const pending = new Map<number, (events: readonly unknown[] | null) => void>();
    session.own(worker, async (w) => {
      w.postMessage({ t: 'stop' } satisfies ToWorker);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_WAIT_MS)));
      if ((await Promise.race([exited, late])) === 'late') {
        logger.warn({}, `capture: the worker thread did not exit within ${STOP_WAIT_MS} ms of stop; terminated it`);
        await w.terminate();
      }
      clearTimeout(timer);
      for (const resolve of pending.values()) resolve(null);
      pending.clear();
    });
    this.worker = worker;
    session.defer(() => (this.worker = undefined));
    this.ownChanged();

    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    worker.on('message', (m: FromWorker) => {
      switch (m.t) {
        case 'state':
          this.mirror(m.state);
          if (m.queries > 0) this.options.onQueries(m.queries);
          // A worker whose capturer runs without failing is a healthy attempt of this supervisor.
          if (m.state.failures === 0 && m.state.role !== 'idle') session.healthy();
          started();
          return;
        case 'appended':
          return this.options.onAppended(m.changes);
        case 'skipped':
          return this.options.onSkipped(m.skip);
        case 'own': {
          const own = this.options.ownDelivery();
          if (own) own(new Promise((resolve) => pending.set(m.seq, resolve)));
          return;
        }
        case 'ownEvents':
          pending.get(m.seq)?.(m.events);
          pending.delete(m.seq);
          return;
        case 'log':
          return relay(logger, m.line);
        case 'stopped':
          return;
      }
    });
    worker.on('error', (error) => session.end(error));
    void exited.then((code) => session.end(new Error(`capture worker thread exited (code ${code})`)));
    await Promise.race([running, session.ended]);
  }

  private mirror(state: CaptureState): void {
    const before = this.state.role;
    // Once stopped, a late message of the old worker changes nothing.
    if (before === 'stopped') return;
    this.state = state;
    if (state.role !== before) this.emit('role', state.role);
  }
}

function emptyState(role: CapturerRole): CaptureState {
  return { role, failures: 0, lastError: undefined, failingSince: undefined, attempts: 0, pendingSince: null };
}

/** Writes a line the worker's logger produced through the main thread's logger, at its level. */
function relay(logger: Logger, line: string): void {
  try {
    const { level, msg, time: _time, name: _name, ...fields } = JSON.parse(line) as Record<string, unknown>;
    const write = typeof level === 'string' && level in logger.levels.values ? logger[level as 'info'] : logger.info;
    write.call(logger, fields, typeof msg === 'string' ? msg : '');
  } catch {
    logger.warn({ line }, 'capture: unreadable log line from the worker thread');
  }
}
