import { z } from 'zod';
import type { Logger } from '../log';
import type { ServiceMetrics } from '../metrics';

/**
 * Why a change did not reach the streams. decode: the event is in the log but
 * not delivered (`row_schema`: its row fails its entity's schema; `no_company`:
 * it has no company, e.g. its company column was dropped; `malformed`: not an
 * event at all). capture: the WAL capturer could not append it (the reason is
 * the SQLSTATE PostgreSQL refused it with).
 */
export type SkipPath = SkipSummary['path'];

/** One kind of skip as /readyz shows it (`skipped`). */
export const skipSummary = z.object({
  path: z.enum(['decode', 'capture']),
  entity: z.string(),
  reason: z.string(),
  count: z.number().int(),
  /** The newest skipped event id (decode) or WAL position (capture). */
  last: z.string().optional(),
  lastAt: z.string(),
  message: z.string(),
});
export type SkipSummary = z.infer<typeof skipSummary>;

/** How often one entity's skips are logged (the rest are counted and summed into the next line). */
const LOG_INTERVAL_MS = 60_000;

/**
 * The one policy for data pgfeed does not control: a change that cannot be
 * delivered or captured is skipped, counted (`pgfeed_decode_errors_total`,
 * `pgfeed_capture_skipped_total`, by entity and reason), logged at most once
 * per entity per minute, and shown in /readyz, and whoever met it moves on.
 * Every path that decodes stored events or appends captured ones reports here.
 */
export class Skips {
  private readonly byKind = new Map<string, SkipSummary>();
  private readonly logged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly metrics: ServiceMetrics,
    private readonly logger: Logger,
    private readonly logIntervalMs = LOG_INTERVAL_MS,
  ) {}

  record(path: SkipPath, skip: { entity: string; reason: string; message: string; last?: string }): void {
    (path === 'decode' ? this.metrics.decodeErrors : this.metrics.captureSkipped).inc({
      entity: skip.entity,
      reason: skip.reason,
    });
    const kind = `${path}\0${skip.entity}\0${skip.reason}`;
    const summary = this.byKind.get(kind) ?? {
      path,
      entity: skip.entity,
      reason: skip.reason,
      count: 0,
      last: undefined,
      lastAt: '',
      message: '',
    };
    summary.count++;
    summary.last = skip.last;
    summary.lastAt = new Date().toISOString();
    summary.message = skip.message;
    // The map holds one entry per kind: entities and reasons are few.
    this.byKind.set(kind, summary);

    const key = `${path}\0${skip.entity}`;
    const seen = this.logged.get(key);
    const now = Date.now();
    if (seen && now - seen.at < this.logIntervalMs) {
      seen.suppressed++;
      return;
    }
    this.logged.set(key, { at: now, suppressed: 0 });
    this.logger.error(
      { path, entity: skip.entity, reason: skip.reason, last: skip.last, suppressedSinceLastLine: seen?.suppressed ?? 0 },
      `${path === 'decode' ? 'decode: event skipped' : 'capture: change skipped'} (${skip.entity}, ${skip.reason}): ${skip.message}`,
    );
  }

  /** Every kind of skip seen since start, newest first. */
  summary(): SkipSummary[] {
    return [...this.byKind.values()].sort((a, b) => b.lastAt.localeCompare(a.lastAt));
  }
}
