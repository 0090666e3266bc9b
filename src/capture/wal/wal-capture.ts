import { Counter, Gauge } from 'prom-client';
import type { Sql } from '../../db/connect';
import type { EntityRegistry } from '../../events/entity';
import type { Logger } from '../../log';
import type { ServiceMetrics } from '../../metrics';
import type { Skips } from '../../events/skips';
import { type Capture, type CaptureStatus, checkMode, watchEntities } from '../capture';
import { CaptureThread } from './capture-thread';
import { type CaptureSkip, Capturer, type CapturerRunner, type CapturerSettings, type OwnDelivery } from './capturer';
import { captureBehindSeconds, checkPrerequisites, ensureSlot, slotLagBytes } from './slot';

export interface WalCaptureOptions {
  /** The query pool's route (the capture worker opens a small pool of its own to it). */
  poolUrl: string;
  /** The replication connection's route. */
  databaseUrl: string;
  sql: Sql;
  entities: EntityRegistry;
  logger: Logger;
  metrics: ServiceMetrics;
  skips: Skips;
  slot: string;
  batch: number;
  lingerMs: number;
  heartbeatMs: number;
  takeoverMs: number;
  slotHeartbeatMs: number;
  /** Run the capturer in a worker thread of its own (CAPTURE_THREAD) rather than on the main event loop. */
  thread: boolean;
}

/** The longest start() waits for the capturer's first attempt to settle. */
const FIRST_ATTEMPT_WAIT_MS = 15_000;

/**
 * CAPTURE=wal: watched tables sit in a publication, and one instance at a
 * time (the holder of the slot) appends their changes to the log.
 */
export class WalCapture implements Capture {
  readonly mode = 'wal';
  private capturer: CapturerRunner | undefined;
  private own: OwnDelivery | null = null;

  constructor(private readonly options: WalCaptureOptions) {}

  async start(): Promise<void> {
    const { sql, entities, logger, metrics, slot, skips } = this.options;
    await checkMode(sql, 'wal');
    await checkPrerequisites(sql);
    if (await ensureSlot(sql, slot)) logger.info({ slot }, 'capture: created replication slot');
    await watchEntities(sql, entities, 'wal');
    const [p] = await sql<{ name: string }[]>`select pgfeed.publication() as name`;
    const registers = [metrics.registry];
    const appends = new Counter({
      name: 'pgfeed_capture_appends_total',
      help: 'Append transactions this instance committed to the log (changes / appends: how full batches are).',
      registers,
    });
    const appended = new Counter({
      name: 'pgfeed_capture_changes_total',
      help: 'Row changes this instance appended to the log.',
      registers,
    });
    const settings: CapturerSettings = {
      databaseUrl: this.options.databaseUrl,
      slot,
      publication: p!.name,
      batch: this.options.batch,
      lingerMs: this.options.lingerMs,
      heartbeatMs: this.options.heartbeatMs,
      takeoverMs: this.options.takeoverMs,
      slotHeartbeatMs: this.options.slotHeartbeatMs,
    };
    const callbacks = {
      onAppended: (changes: number) => {
        appends.inc();
        appended.inc(changes);
      },
      ownDelivery: () => this.own,
      onSkipped: (skip: CaptureSkip) => skips.record('capture', skip),
    };
    const capturer: CapturerRunner = this.options.thread
      ? new CaptureThread({
          job: { ...settings, poolUrl: this.options.poolUrl },
          logger,
          onQueries: (n) => metrics.dbQueries.inc(n),
          ...callbacks,
        })
      : new Capturer({ ...settings, sql, logger, ...callbacks });
    capturer.on('role', (role) => logger.info({ role, slot }, `capture:${role}`));
    this.capturer = capturer;
    new Gauge({
      name: 'pgfeed_capture_lag_bytes',
      help: 'WAL the capture slot holds that pgfeed has not confirmed (the same on every instance).',
      registers,
      collect: async function () {
        this.set(await slotLagBytes(sql, slot).catch(() => NaN));
      },
    });
    new Gauge({
      name: 'pgfeed_capture_lag_seconds',
      help: 'Age of the oldest change the capturing instance has received but not yet appended (0 on standbys).',
      registers,
      collect() {
        this.set(capturer.lagSeconds());
      },
    });
    new Gauge({
      name: 'pgfeed_capture_capturing',
      help: '1 while this instance holds the replication slot and appends to the log.',
      registers,
      collect() {
        this.set(capturer.role === 'capturing' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pgfeed_capture_behind_seconds',
      help: 'Seconds since the newest transaction in the log from the slot committed (slot heartbeats included): grows without bound while capture is stuck. Same on every instance.',
      registers,
      collect: async function () {
        this.set(await captureBehindSeconds(sql).catch(() => NaN));
      },
    });
    new Gauge({
      name: 'pgfeed_capture_failures',
      help: 'Attempts in a row this instance failed to capture (a busy slot is not a failure); /readyz is 503 from CAPTURE_FAILURES_NOT_READY on.',
      registers,
      collect() {
        this.set(capturer.health.failures);
      },
    });
    let attempts = 0;
    new Counter({
      name: 'pgfeed_capture_attempts_total',
      help: "Times this instance tried to take the slot and stream from it (a standby's takeover attempts included).",
      registers,
      collect() {
        this.inc(capturer.health.attempts - attempts);
        attempts = capturer.health.attempts;
      },
    });
    const settled = new Promise<void>((resolve) => capturer.once('role', () => resolve()));
    capturer.start();
    // Resolves once the first attempt is over (capturing, or standby: the slot is busy or it failed), so
    // status() says which from the start; a worker thread takes a moment to load first. Bounded: a
    // capture that cannot even begin must not hold up the rest of the service.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((resolve) => (timer = setTimeout(resolve, FIRST_ATTEMPT_WAIT_MS)))]);
    clearTimeout(timer);
  }

  deliverOwnTo(own: OwnDelivery): void {
    this.own = own;
    this.capturer?.ownChanged?.();
  }

  async stop(): Promise<void> {
    this.own = null;
    this.capturer?.ownChanged?.();
    await this.capturer?.stop();
  }

  status(): CaptureStatus {
    const health = this.capturer?.health;
    return {
      mode: 'wal',
      role: this.capturer?.role ?? 'idle',
      slot: this.options.slot,
      failures: health?.failures ?? 0,
      ...(health?.lastError === undefined ? {} : { error: health.lastError }),
      ...(health?.failingSince === undefined ? {} : { failingSince: health.failingSince.toISOString() }),
    };
  }
}
