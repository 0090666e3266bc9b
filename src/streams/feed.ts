import type { Sql } from '../db/connect';
import { positionStatus, readAfter } from '../events/log';
import { RingBuffer } from '../events/ring';
import { type ResetData, resumeId } from '../events/schema';
import type { Listener } from '../listener/listener';
import type { ServiceMetrics } from '../metrics';
import { FeedEvent } from './feed-event';
import { matches } from './filter';
import { Registry } from './registry';
import { SSE_PING } from './sse';
import type { Subscriber } from './subscriber';

export interface FeedOptions {
  sql: Sql;
  listener: Listener;
  metrics: ServiceMetrics;
  ringSize: number;
  heartbeatMs: number;
  /** Page size of replays read from the log. */
  replayPage?: number;
}

/**
 * Joins the listener's events to open streams: keeps the replay ring, hands
 * each event to the streams that may see it, and answers resumes from the ring
 * or, when the ring does not reach back far enough, from the log.
 */
export class Feed {
  readonly registry = new Registry();
  private ring: RingBuffer<FeedEvent> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: FeedOptions) {}

  /** Starts listening from `from` (the log head). */
  async start(from: bigint): Promise<void> {
    this.ring = new RingBuffer<FeedEvent>(this.options.ringSize, from);
    this.options.listener.on('event', (e) => {
      const event = new FeedEvent(e);
      this.ringOrThrow().push(event);
      this.registry.dispatch(event);
    });
    this.heartbeat = setInterval(() => this.registry.forEach((s) => s.write(SSE_PING)), this.options.heartbeatMs);
    this.heartbeat.unref();
    await this.options.listener.start(from);
  }

  /** The newest position this instance has delivered. */
  get head(): bigint {
    return this.ringOrThrow().head;
  }

  /** Ends every stream (shutdown): clients reconnect elsewhere with Last-Event-ID. */
  closeAll(): void {
    clearInterval(this.heartbeat);
    this.registry.forEach((s) => s.end());
  }

  /** What streams have been sent, for metrics. */
  onSent = (event: FeedEvent): void => {
    this.options.metrics.eventsOut();
    if (!event.delivered) {
      event.delivered = true;
      this.options.metrics.registry.observeLag(Date.now() - Date.parse(event.event.committedAt));
    }
  };

  /**
   * Registers a stream and brings it up to date: replays what committed after
   * `lastEventId` (or says `reset`), writes live events held meanwhile, then
   * `ready`. Registration comes first and is synchronous with reading the ring
   * head, so no event falls between the replay and live delivery.
   */
  async open(s: Subscriber, lastEventId: string | undefined): Promise<void> {
    const ring = this.ringOrThrow();
    this.registry.add(s);
    const registeredAt = ring.head;
    s.cover(registeredAt);
    let replayed = 0;
    let reset: ResetData | undefined;
    if (lastEventId !== undefined) {
      const parsed = resumeId.safeParse(lastEventId);
      if (!parsed.success) {
        reset = { reason: 'malformed', message: 'Last-Event-ID must be a decimal event id' };
      } else {
        const from = BigInt(parsed.data);
        s.position = from;
        const fromRing = ring.knows(from) ? ring.after(from) : undefined;
        if (fromRing) {
          this.options.metrics.replayHits(1, { source: 'ring' });
          for (const event of fromRing) {
            if (matches(s.filter, event.event)) {
              await s.replay(event);
              replayed++;
            }
          }
          s.cover(fromRing.at(-1)?.seq ?? from);
        } else {
          const status = await positionStatus(this.options.sql, from);
          if (status === 'ok') {
            this.options.metrics.replayHits(1, { source: 'log' });
            replayed = await this.replayFromLog(s, from);
          } else {
            reset = {
              reason: status,
              message: status === 'expired' ? 'that event is older than the retained history' : 'no such event id',
            };
          }
        }
      }
    }
    if (reset) {
      this.options.metrics.resets(1, { reason: reset.reason });
      s.sendReset(reset);
      s.position = registeredAt; // live from registration: held events follow
    }
    await s.goLive();
    s.sendReady({ lastEventId: s.position.toString(), replayed });
  }

  private async replayFromLog(s: Subscriber, from: bigint): Promise<number> {
    const page = this.options.replayPage ?? 500;
    let replayed = 0;
    let after = from;
    for (;;) {
      const events = await readAfter(this.options.sql, after, page, s.filter.scope.companyId);
      for (const e of events) {
        if (s.closed) return replayed;
        const event = new FeedEvent(e);
        if (matches(s.filter, e)) {
          await s.replay(event);
          replayed++;
        }
        s.cover(event.seq);
        after = event.seq;
      }
      if (events.length < page) return replayed;
    }
  }

  private ringOrThrow(): RingBuffer<FeedEvent> {
    if (!this.ring) throw new Error('feed not started');
    return this.ring;
  }
}
