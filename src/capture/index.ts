import type { Config } from '../config';
import type { Sql } from '../db/connect';
import type { EntityRegistry } from '../events/entity';
import type { Skips } from '../events/skips';
import type { Logger } from '../log';
import type { ServiceMetrics } from '../metrics';
import type { Capture } from './capture';
import { TriggerCapture } from './trigger';
import { defaultSlotName } from './wal/slot';
import { WalCapture } from './wal/wal-capture';

export type { Capture, CaptureMode, CaptureStatus } from './capture';
export { CaptureSetupError } from './wal/slot';

/** The capture path CAPTURE names. */
export function createCapture(deps: {
  config: Config;
  databaseUrl: string;
  sql: Sql;
  entities: EntityRegistry;
  logger: Logger;
  metrics: ServiceMetrics;
  skips: Skips;
}): Capture {
  const { config, databaseUrl, sql, entities, logger, metrics, skips } = deps;
  if (config.CAPTURE === 'trigger') return new TriggerCapture(sql, entities);
  return new WalCapture({
    // The replication connection may need another route than the pool (a pooler such as PgBouncer cannot replicate).
    databaseUrl: config.CAPTURE_DATABASE_URL ?? databaseUrl,
    poolUrl: databaseUrl,
    sql,
    entities,
    logger,
    metrics,
    skips,
    slot: config.CAPTURE_SLOT ?? defaultSlotName(databaseUrl),
    batch: config.CAPTURE_BATCH,
    lingerMs: config.CAPTURE_LINGER_MS,
    heartbeatMs: config.CAPTURE_HEARTBEAT_MS,
    takeoverMs: config.CAPTURE_TAKEOVER_MS,
    slotHeartbeatMs: config.CAPTURE_SLOT_HEARTBEAT_MS,
    thread: config.CAPTURE_THREAD,
  });
}
