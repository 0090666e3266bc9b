import type { ServerResponse } from 'node:http';
import { AppError } from '../errors';
import type { EntityCatalog } from '../events/catalog';
import type { EventLog, LogFilter } from '../events/log';
import { type Position, formatPosition, parsePosition } from '../events/position';
import { RingBuffer } from '../events/ring';
import type { ChangeEvent, ResetData } from '../events/schema';
import type { ServiceMetrics } from '../metrics';
import { FeedEvent, type Format, type Presentation } from './feed-event';
import { type Filter, type Scope, matches } from './filter';
import { Registry } from './registry';
import { SSE_PING, sseRetry } from './sse';
import { Slots } from './slots';
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
  /** Anonymous (public) streams in all, and from one client address. */
  maxAnonymous: number;
  maxAnonymousPerIp: number;
  slowClientMaxBytes: number;
  /** Bytes of events the ring may hold. */
  ringBytes: number;
  replayPage: number;
  /** Streams replaying from the log at once; the others wait their turn. */
  maxReplays: number;
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
  /** The client's address (per-address limit of anonymous streams). */
  clientIp?: string;
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
  private readonly replaySlots: Slots;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Set once shutdown ended the streams: no new ones. */
  private ending = false;

  constructor(private readonly options: FeedOptions) {
    this.ring = new RingBuffer<FeedEvent>(options.ringSize, options.from, options.ringBytes);
    this.replaySlots = new Slots(options.maxReplays);
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

  /** What the replay ring holds, for metrics. */
  get ringUsage(): { events: number; bytes: number } {
    return { events: this.ring.size, bytes: this.ring.bytes };
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
    this.admit(request, res);

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
      ...(request.clientIp === undefined ? {} : { clientIp: request.clientIp }),
      maxBufferedBytes: this.options.slowClientMaxBytes,
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
    if (scope.kind === 'public') {
      // Anonymous callers learn only what public streams carry: the same answer for a private
      // entity and a name that does not exist, and no query to tell them apart.
      const allowed = this.options.presentation.entities.publicNames();
      const hidden = (request.entities ?? []).filter((e) => !allowed.includes(e));
      if (hidden.length > 0) {
        throw new AppError('invalid_query', `public streams carry only ${LIST.format(allowed)}, not ${LIST.format(hidden)}`);
      }
      filter.entities = new Set(request.entities ?? allowed);
    } else if (request.entities) {
      const unknown = await this.options.catalog.unknownOf(request.entities);
      if (unknown.length > 0) throw new AppError('invalid_query', `unknown entity: ${unknown.join(', ')}`);
      filter.entities = new Set(request.entities);
    }
    if (request.keys) filter.keys = new Set(request.keys);
    return filter;
  }

  /**
   * 429 with Retry-After when the instance, the subject, or — for anonymous
   * streams — their own budget or the client's address has too many streams.
   * Anonymous streams never take the slots kept for signed-in ones.
   */
  private admit(request: StreamRequest, res: ServerResponse): void {
    const { metrics, maxConnections, maxConnectionsPerUser, maxAnonymous, maxAnonymousPerIp } = this.options;
    const refuse = (reason: string, message: string) => {
      metrics.rejected.inc({ reason });
      res.setHeader('Retry-After', '5');
      return new AppError('too_many_connections', message);
    };
    const { subject, clientIp } = request;
    if (this.registry.size >= maxConnections) {
      throw refuse('max_connections', 'the server has reached MAX_CONNECTIONS streams');
    }
    if (subject !== undefined && this.registry.countFor(request.scope.companyId, subject) >= maxConnectionsPerUser) {
      throw refuse('max_connections_per_user', 'this user has reached MAX_CONNECTIONS_PER_USER streams');
    }
    if (subject === undefined) {
      if (this.registry.anonymous >= maxAnonymous) {
        throw refuse('max_anonymous_connections', 'the server has reached MAX_ANONYMOUS_CONNECTIONS public streams');
      }
      if (clientIp !== undefined && this.registry.anonymousFrom(clientIp) >= maxAnonymousPerIp) {
        throw refuse('max_anonymous_per_ip', 'this address has reached MAX_ANONYMOUS_CONNECTIONS_PER_IP public streams');
      }
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
            // Everything up to registration is committed, so the log read above reached past it:
            // events in between were not for this stream.
            s.cover(registeredAt);
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

  /**
   * Replays from the log what the stream may see and asked for, filtered in
   * SQL, a page at a time; at most `maxReplays` streams read the log at once.
   */
  private async replayFromLog(s: Subscriber, from: Position): Promise<number> {
    const { page, log } = { page: this.options.replayPage, log: this.options.log };
    const { scope, entities, keys } = s.filter;
    const only: LogFilter = {
      companyId: scope.companyId,
      ...(scope.kind === 'user' ? { userId: scope.userId } : {}),
      ...(entities ? { entities } : {}),
      ...(keys ? { keys } : {}),
    };
    let replayed = 0;
    let after = from;
    await this.replaySlots.run(async () => {
      for (;;) {
        const events = await log.readAfter(after, page, only);
        for (const e of events) {
          if (s.closed) return;
          const event = new FeedEvent(e, this.options.presentation);
          await s.replay(event);
          replayed++;
          after = event.position;
        }
        if (events.length < page) return;
      }
    });
    return replayed;
  }
}

const LIST = new Intl.ListFormat('en', { type: 'conjunction' });

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
