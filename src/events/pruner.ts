import type { Logger } from '../log';
import type { ServiceMetrics } from '../metrics';
import type { EventLog } from './log';

/** Deletes events older than the retention every `intervalMs`, in the background. */
export class Pruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: {
      log: EventLog;
      retentionMs: number;
      intervalMs: number;
      batch: number;
      logger: Logger;
      metrics: ServiceMetrics;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pruneOnce(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One pruning pass; a failure is logged, never thrown. */
  private pruneOnce(): Promise<unknown> {
    const { log, retentionMs, batch, logger, metrics } = this.options;
    this.running = this.running
      .then(() => log.prune(retentionMs, batch))
      .then((count) => {
        if (count > 0) {
          metrics.pruned.inc(count);
          logger.info({ count }, 'pruned events');
        }
      })
      .catch((err: unknown) => logger.warn({ err }, 'prune failed'));
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
