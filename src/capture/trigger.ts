import type { Sql } from '../db/connect';
import type { EntityRegistry } from '../events/entity';
import { type Capture, type CaptureStatus, watchEntities } from './capture';

/**
 * CAPTURE=trigger: a deferred row trigger on each watched table appends the
 * event at commit and NOTIFYs it (sql/000001_pgfeed.sql, pgfeed.capture_row()).
 * Nothing runs in the service: starting only attaches the triggers.
 */
export class TriggerCapture implements Capture {
  readonly mode = 'trigger';

  constructor(
    private readonly sql: Sql,
    private readonly entities: EntityRegistry,
  ) {}

  start(): Promise<void> {
    return watchEntities(this.sql, this.entities, 'trigger');
  }

  async stop(): Promise<void> {}

  status(): CaptureStatus {
    return { mode: 'trigger' };
  }
}
