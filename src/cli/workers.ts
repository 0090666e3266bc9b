/**
 * `pgfeed start --workers auto|N`: one pgfeed per core behind one port, with
 * node:cluster. The primary only forks, watches and stops the workers; each
 * worker is an ordinary instance (its own pool, listener and capture), exactly
 * what several `pgfeed start` on several machines are. A client may therefore
 * resume on any worker: event ids are assigned in the database and mean the
 * same everywhere (CONTRACT.md section 3).
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { loadConfig } from '../config';
import { exponentialBackoff } from '../db/supervise';
import { createLogger, type Logger } from '../log';
import { RUNNING, UsageError } from './command';

/** The most workers `--workers N` accepts: far more than any machine's cores, few enough to catch a typo. */
const MAX_WORKERS = 256;
/**
 * A worker that dies after it served is forked again after 500 ms, doubled for each death within
 * RESTART_WINDOW_MS, at most 30 s: the listener's and the capturer's backoff, jitter included, so
 * workers that crashed together do not all come back at once.
 */
const restartDelay = exponentialBackoff(500, 30_000);
const RESTART_WINDOW_MS = 60_000;

/** `auto` (one per core: os.availableParallelism) or a whole number 1..256. */
export function parseWorkers(value: string): number {
  if (value === 'auto') return os.availableParallelism();
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_WORKERS) {
    throw new UsageError(`--workers must be auto or a whole number from 1 to ${MAX_WORKERS}, got "${value}"`);
  }
  return Number(value);
}

/**
 * The `--workers` hook of `pgfeed start`: in a worker, `serve` (an ordinary
 * instance); in the primary, forks the workers and supervises them until
 * SIGTERM or SIGINT. Resolves like a command: RUNNING, or an exit code.
 */
export async function withWorkers(value: string, env: NodeJS.ProcessEnv, serve: () => Promise<number>): Promise<number> {
  if (cluster.isWorker) return serve();
  const count = parseWorkers(value);
  const config = loadConfig(env);
  // The embedded database and its generated secret belong to one process; N copies would each start their own.
  if (!config.DATABASE_URL) throw new UsageError('--workers needs DATABASE_URL (the embedded demo database serves one instance)');
  new Primary(count, config.SHUTDOWN_TIMEOUT_MS, createLogger(config.LOG_LEVEL)).start();
  return RUNNING;
}

/** The primary: N workers up, a dead one replaced, all stopped together. */
class Primary {
  private readonly workers = new Set<Worker>();
  private stopping = false;
  private exitCode = 0;
  private deaths: number[] = [];

  constructor(
    private readonly count: number,
    private readonly shutdownMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    // Workers run this same command line (`pgfeed start --workers …`) and take the cluster.isWorker branch.
    for (let i = 0; i < this.count; i++) this.fork();
    this.logger.info({ workers: this.count }, 'workers starting');
    process.on('SIGTERM', () => this.stop('SIGTERM'));
    process.on('SIGINT', () => this.stop('SIGINT'));
  }

  private fork(): void {
    const worker = cluster.fork();
    let served = false;
    this.workers.add(worker);
    worker.once('listening', () => (served = true));
    worker.once('exit', (code, signal) => {
      this.workers.delete(worker);
      if (this.stopping) {
        if (code !== 0) this.exitCode = 1;
        if (this.workers.size === 0) process.exit(this.exitCode);
        return;
      }
      if (!served) {
        // It failed before it listened (a bad setting, the database refusing): the others would too. Stop, with its code.
        this.logger.error({ worker: worker.id, code, signal }, 'worker failed to start; stopping');
        this.stop('worker failed', code && code > 0 ? code : 1);
        return;
      }
      const at = Date.now();
      this.deaths = [...this.deaths.filter((t) => at - t < RESTART_WINDOW_MS), at];
      const delay = Math.round(restartDelay(this.deaths.length - 1));
      this.logger.warn({ worker: worker.id, code, signal, restartInMs: delay }, 'worker exited; starting another');
      setTimeout(() => this.stopping || this.fork(), delay);
    });
  }

  /** SIGTERM to every worker (each ends its streams and closes its database, as a single instance does), then exit. */
  private stop(reason: string, exitCode = 0): void {
    if (this.stopping) return;
    this.stopping = true;
    this.exitCode = exitCode;
    this.logger.info({ signal: reason, workers: this.workers.size }, 'shutting down');
    if (this.workers.size === 0) process.exit(this.exitCode);
    for (const worker of this.workers) worker.process.kill('SIGTERM');
    // Each worker stops within SHUTDOWN_TIMEOUT_MS (its own backstop is 500 ms later); this is the primary's.
    setTimeout(() => {
      for (const worker of this.workers) worker.process.kill('SIGKILL');
      process.exit(1);
    }, this.shutdownMs + 1000).unref();
  }
}
