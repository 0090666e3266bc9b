import type { ServerResponse } from 'node:http';
import { AppError } from '../errors';
import type { EntityCatalog } from '../events/catalog';
import type { EventLog } from '../events/log';
import { type Position, formatPosition, parsePosition } from '../events/position';
import { RingBuffer } from '../events/ring';
import type { ChangeEvent, ResetData } from '../events/schema';
import type { ServiceMetrics } from '../metrics';
import { FeedEvent, type Format, type Presentation } from './feed-event';
import { type Filter, type Scope, matches } from './filter';
import { Registry } from './registry';
import { SSE_PING, sseRetry } from './sse';
import { Subscriber } from './subscriber';

export interface FeedOptions {
  log: EventLog;
  catalog: EntityCatalog;
  presentation: Presentation;
  metrics: ServiceMetrics;
  /** The log head when the service started: the ring's floor. */
  from: Position;
  ringSize: number;
  heartbeatMs: number;
  retryMs: number;
  maxConnections: number;
  maxConnectionsPerUser: number;
  slowClientMaxBytes: number;
  maxPending: number;
  replayPage: number;
}

/** What a stream asks for, as the route parsed it from the request and its token. */
export interface StreamRequest {
  scope: Scope;
  /** Only these entities; unknown names are a 400. */
  entities?: string[];
  /** Only rows with these keys. */
  keys?: string[];
  format: Format;
  /** The token's subject (none for public streams): the per-user connection limit counts it. */
  subject?: string;
  /** When the token expires (ms since the epoch): the stream ends then. */
  expiresAt?: number;
  /** The raw Last-Event-ID (header or query parameter), if any. */
  lastEventId?: string;
}

/**
 * Joins the listener's events to open streams: keeps the replay ring, admits
 * streams (limits, filter, headers, expiry, cleanup), hands each event to the
 * streams that may see it, and answers resumes from the ring or, when the ring
 * does not reach back far enough, from the log.
 */
export class Feed {
  readonly registry = new Registry();
  private readonly ring: RingBuffer<FeedEvent>;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Set once shutdown ended the streams: no new ones. */
  private ending = false;

  constructor(private readonly options: FeedOptions) {
    this.ring = new RingBuffer<FeedEvent>(options.ringSize, options.from);
  }

  /** Takes a decoded event from the listener (in commit order) to the ring and the streams. */
  readonly publish = (e: ChangeEvent): void => {
    const event = new FeedEvent(e, this.options.presentation);
    this.ring.push(event);
    this.registry.dispatch(event);
  };

  start(): void {
    this.heartbeat = setInterval(() => this.registry.forEach((s) => s.write(SSE_PING)), this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  /**
   * Ends every stream (shutdown): clients reconnect elsewhere with Last-Event-ID.
   * From then on new streams are refused: a browser reconnects at once over a
   * kept-alive socket the closing server still serves, and that stream would
   * hold the shutdown until its deadline.
   */
  endStreams(): void {
    this.ending = true;
    this.registry.forEach((s) => s.end());
  }

  stop(): void {
    clearInterval(this.heartbeat);
    this.endStreams();
  }

  /** The newest position this instance has delivered. */
  get position(): Position {
    return this.ring.head;
  }

  /**
   * Admits a stream on `res` and brings it up to date: checks limits and the
   * filter (AppError before anything is written), writes the SSE headers,
   * replays what committed after `lastEventId` (or says `reset`), writes live
   * events held meanwhile, then `ready`. Registration is synchronous with
   * reading the ring head, so no event falls between the replay and live
   * delivery. The stream is unregistered when the response closes.
   */
  async open(res: ServerResponse, request: StreamRequest): Promise<void> {
    if (this.ending) {
      res.setHeader('Connection', 'close');
      throw new AppError('not_ready', 'the service is shutting down; reconnect');
    }
    const filter = await this.filterFor(request);
    this.admit(request.subject, res);

    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const { metrics } = this.options;
    const s = new Subscriber(res, {
      filter,
      format: request.format,
      ...(request.subject === undefined ? {} : { subject: request.subject }),
      maxBufferedBytes: this.options.slowClientMaxBytes,
      maxPending: this.options.maxPending,
      onSent: this.onSent,
      onSlow: () => metrics.slowDisconnects.inc(),
    });
    s.write(sseRetry(this.options.retryMs));
    const expiry = request.expiresAt === undefined ? undefined : endAt(s, request.expiresAt);
    res.once('close', () => {
      expiry?.cancel();
      this.registry.remove(s);
    });
    try {
      await this.catchUp(s, request.lastEventId);
    } catch (error) {
      this.registry.remove(s);
      res.destroy();
      throw error;
    }
  }

  /** The stream's filter; a 400 for entity names no table produces or a public stream may not carry. */
  private async filterFor(request: StreamRequest): Promise<Filter> {
    const { scope } = request;
    const filter: Filter = { scope };
    if (request.entities) {
      const unknown = await this.options.catalog.unknownOf(request.entities);
      if (unknown.length > 0) throw new AppError('invalid_query', `unknown entity: ${unknown.join(', ')}`);
    }
    if (scope.kind === 'public') {
      const allowed = this.options.presentation.entities.publicNames();
      const hidden = (request.entities ?? []).filter((e) => !allowed.includes(e));
      if (hidden.length > 0) {
        throw new AppError('invalid_query', `public streams carry only ${allowed.join(' and ')}, not ${hidden.join(', ')}`);
      }
      filter.entities = new Set(request.entities ?? allowed);
    } else if (request.entities) {
      filter.entities = new Set(request.entities);
    }
    if (request.keys) filter.keys = new Set(request.keys);
    return filter;
  }

  /** 429 with Retry-After when the instance or the subject has too many streams. */
  private admit(subject: string | undefined, res: ServerResponse): void {
    const { metrics, maxConnections, maxConnectionsPerUser } = this.options;
    const refuse = (reason: string, message: string) => {
      metrics.rejected.inc({ reason });
      res.setHeader('Retry-After', '5');
      return new AppError('too_many_connections', message);
    };
    if (this.registry.size >= maxConnections) {
      throw refuse('max_connections', 'the server has reached MAX_CONNECTIONS streams');
    }
    if (subject !== undefined && this.registry.countFor(subject) >= maxConnectionsPerUser) {
      throw refuse('max_connections_per_user', 'this user has reached MAX_CONNECTIONS_PER_USER streams');
    }
  }

  /** What streams have been sent, for metrics. */
  private readonly onSent = (event: FeedEvent): void => {
    this.options.metrics.eventsOut.inc();
    if (!event.delivered) {
      event.delivered = true;
      this.options.metrics.lag.observe(Math.max(0, Date.now() - Date.parse(event.event.committedAt)));
    }
  };

  private async catchUp(s: Subscriber, lastEventId: string | undefined): Promise<void> {
    const { metrics } = this.options;
    this.registry.add(s);
    const registeredAt = this.ring.head;
    s.cover(registeredAt);
    let replayed = 0;
    let reset: ResetData | undefined;
    if (lastEventId !== undefined) {
      const from = parsePosition(lastEventId);
      if (from === undefined) {
        reset = { reason: 'malformed', message: 'Last-Event-ID must be a decimal event id' };
      } else {
        s.position = from;
        const fromRing = this.ring.knows(from) ? this.ring.after(from) : undefined;
        if (fromRing) {
          metrics.replayHits.inc({ source: 'ring' });
          for (const event of fromRing) {
            if (matches(s.filter, event.event)) {
              await s.replay(event);
              replayed++;
            }
          }
          s.cover(fromRing.at(-1)?.position ?? from);
        } else {
          const status = await this.options.log.status(from);
          if (status === 'ok') {
            metrics.replayHits.inc({ source: 'log' });
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
      metrics.resets.inc({ reason: reset.reason });
      s.sendReset(reset);
      s.position = registeredAt; // live from registration: held events follow
    }
    await s.goLive();
    s.sendReady({ lastEventId: formatPosition(s.position), replayed });
  }

  private async replayFromLog(s: Subscriber, from: Position): Promise<number> {
    const page = this.options.replayPage;
    let replayed = 0;
    let after = from;
    for (;;) {
      const events = await this.options.log.readAfter(after, page, s.filter.scope.companyId);
      for (const e of events) {
        if (s.closed) return replayed;
        const event = new FeedEvent(e, this.options.presentation);
        if (matches(s.filter, e)) {
          await s.replay(event);
          replayed++;
        }
        s.cover(event.position);
        after = event.position;
      }
      if (events.length < page) return replayed;
    }
  }
}

/**
 * Ends the stream when the token expires: the client must come back with a
 * fresh one. Timers cap at 2^31-1 ms (~24.8 days), so a far expiry is re-armed.
 */
function endAt(s: Subscriber, expiresAtMs: number): { cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const wait = expiresAtMs - Date.now();
    if (wait <= 0) return s.end();
    timer = setTimeout(arm, Math.min(wait, 2 ** 31 - 1));
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
