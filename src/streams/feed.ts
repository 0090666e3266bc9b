import type { ServerResponse } from 'node:http';
import { AppError } from '../errors';
import type { EntityCatalog } from '../events/catalog';
import type { EventLog, LogFilter } from '../events/log';
import { type Position, formatPosition, parsePosition } from '../events/position';
import { RingBuffer } from '../events/ring';
import type { ChangeEvent, ResetData } from '../events/schema';
import type { ServiceMetrics } from '../metrics';
import { FeedEvent, type Format, type Presentation } from './feed-event';
import { type Filter, type Scope, type Where, matches } from './filter';
import { FairQueue } from './fair-queue';
import { CHECK_EVERY, type Fanout, Registry, audienceOf } from './registry';
import { SLICE_MS, Slicer } from '../slicer';
import { SSE_PING, sseRetry } from './sse';
import { Slots } from './slots';
import { Subscriber, type SubscriberHost } from './subscriber';

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
  /** How long a stream whose client does not read may hold a replay or held events before it is cut. */
  stallMs: number;
}

/** What a stream asks for, as the route parsed it from the request and its token. */
export interface StreamRequest {
  scope: Scope;
  /** Only these entities; unknown names are a 400. */
  entities?: string[];
  /** Only rows with these keys. */
  keys?: string[];
  /** Only rows passing these column filters (checked by the route). */
  where?: Where;
  /** `json`, `html`, or `compact` (JSON whose updates carry no `row`). */
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
  /** Replays of signed-in streams, and of anonymous ones apart, so these cannot take the others' slots. */
  private readonly replaySlots: Slots;
  private readonly anonymousReplaySlots: Slots;
  /** One heartbeat for every stream, and one sweep for token expiry and stalled clients. */
  private heartbeat: NodeJS.Timeout | undefined;
  private beating = false;
  private sweeper: NodeJS.Timeout | undefined;
  /** Set once shutdown ended the streams: no new ones. */
  private ending = false;
  /** Events published and not yet dispatched: in commit order within each company, the companies taking turns. */
  private readonly queue = new FairQueue<FeedEvent>();
  /** Queued events past which the listener is asked to wait (see `idle`). */
  private readonly paceEvents: number;
  private readonly paceBytes: number;
  private pumping: NodeJS.Immediate | undefined;
  /** The run of events being handed out, when its fan-out spans slices. */
  private fanout: Fanout | undefined;
  /** Streams whose socket drained and whose held events are still to be written (from `drainingHead` on). */
  private draining: Subscriber[] = [];
  private drainingHead = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly host: SubscriberHost;
  private readonly retryFrame: Buffer;

  constructor(private readonly options: FeedOptions) {
    this.ring = new RingBuffer<FeedEvent>(options.ringSize, options.from, options.ringBytes);
    this.paceEvents = Math.min(READ_AHEAD_EVENTS, options.ringSize);
    this.paceBytes = options.ringBytes / 4;
    this.replaySlots = new Slots(options.maxReplays);
    this.anonymousReplaySlots = new Slots(Math.max(1, Math.floor(options.maxReplays / 2)));
    this.retryFrame = sseRetry(options.retryMs);
    const { metrics } = options;
    this.host = {
      maxBufferedBytes: options.slowClientMaxBytes,
      maxBehindBytes: Math.max(options.slowClientMaxBytes, options.ringBytes),
      stallMs: options.stallMs,
      sent: (frames) => {
        if (frames > 0) metrics.eventsOut.inc(frames);
      },
      slow: () => metrics.slowDisconnects.inc(),
      closed: (s) => this.registry.remove(s),
      drained: (s) => {
        this.draining.push(s);
        this.pumping ??= setImmediate(this.pump);
      },
    };
  }

  /**
   * Takes a decoded event from the listener (in commit order) to the ring at
   * once (so a resume sees it) and to the streams in slices (see `pump`).
   */
  readonly publish = (e: ChangeEvent): void => {
    const event = new FeedEvent(e, this.options.presentation);
    this.ring.push(event);
    this.queue.push(event);
    this.pumping ??= setImmediate(this.pump);
  };

  /**
   * Undefined while the feed keeps up with what it is given; otherwise (a
   * read-ahead window of events waiting: READ_AHEAD_EVENTS, at most the
   * ring's size, or a quarter of the ring's bytes) a promise that
   * resolves once half of it is out. The listener waits on it between
   * batches, so a 100 000-row transaction is read no faster than it is handed
   * out and memory stays flat; the window is what lets another company's
   * change committed behind a burst reach the queue, and its turn, early.
   */
  idle(): Promise<void> | undefined {
    // Once shutting down nobody waits: stop() ends the pump, and the listener must be free to stop too.
    if (this.ending || (this.queue.size < this.paceEvents && this.queue.bytes < this.paceBytes)) return undefined;
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Hands queued events to the streams for at most SLICE_MS, then yields to
   * the event loop (sockets drain, new streams open, /metrics answers) and
   * goes on. Consecutive events for the same streams are handed out together
   * (a run, at most RUN_EVENTS: one corked write per socket), and a run's
   * fan-out may span slices (Fanout); the next run starts only once it is
   * done, so streams get events in commit order. Lag is observed per event
   * when its run was written to every stream: what the slowest client saw.
   */
  private readonly pump = (): void => {
    this.pumping = undefined;
    const { metrics } = this.options;
    const deadline = performance.now() + SLICE_MS;
    this.flushDrained(deadline);
    let sent = 0;
    const delivered: FeedEvent[] = [];
    for (;;) {
      if (!this.fanout) {
        const run = this.queue.take(RUN_EVENTS, sameAudience);
        if (!run) break;
        this.fanout = this.registry.fanout(run);
      }
      sent += this.fanout.run(deadline);
      if (!this.fanout.done) break;
      delivered.push(...this.fanout.delivered());
      this.fanout = undefined;
      if (performance.now() > deadline) break;
    }
    if (sent > 0) metrics.eventsOut.inc(sent);
    const now = Date.now();
    for (const event of delivered) metrics.lag.observe(Math.max(0, now - Date.parse(event.event.committedAt)));
    const queued = this.queue.size;
    if (queued <= this.paceEvents / 2 && this.queue.bytes <= this.paceBytes / 2) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (this.fanout || queued > 0 || this.drainingHead < this.draining.length) this.pumping = setImmediate(this.pump);
  };

  /**
   * Writes the held events of streams whose socket drained, until `deadline`
   * (each stream's frames in one corked write, up to the socket's high-water
   * mark). First in the slice: those streams are the furthest behind.
   */
  private flushDrained(deadline: number): void {
    const streams = this.draining;
    while (this.drainingHead < streams.length) {
      streams[this.drainingHead++]!.flush();
      if (this.drainingHead % CHECK_EVERY === 0 && performance.now() > deadline) return;
    }
    this.draining = [];
    this.drainingHead = 0;
  }

  start(): void {
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.heartbeat.unref();
    this.sweeper = setInterval(this.sweep, SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * A ping to every stream, in slices: written in one turn, 2 000 streams
   * stalled the event loop ~40 ms every HEARTBEAT_MS (18 000, ten times
   * that). Each socket is corked around its ping so Node writes it inside
   * the slice, not in a nextTick after it (see Fanout.run). Streams that
   * close meanwhile are skipped, and `write` skips those whose socket is full.
   */
  private async beat(): Promise<void> {
    if (this.beating) return; // the previous beat is still going (a very slow loop): skip this one
    this.beating = true;
    try {
      const slicer = new Slicer();
      for (const s of this.registry.snapshot()) {
        if (slicer.due()) {
          await slicer.turn();
          if (this.ending) return;
        }
        if (s.closed) continue;
        s.res.cork();
        s.write(SSE_PING);
        s.res.uncork();
      }
    } finally {
      this.beating = false;
    }
  }

  /**
   * Ends streams whose token expired (the client must come back with a fresh
   * one) and cuts those whose socket has not drained for `stallMs`, or that
   * are too far behind (no new event may come to notice): one timer for all,
   * instead of one per stream.
   */
  private readonly sweep = (): void => {
    const now = Date.now();
    const stalledSince = now - this.options.stallMs;
    this.registry.forEach((s) => {
      if (s.expiresAt !== undefined && s.expiresAt <= now) s.end();
      else if (s.heldSince !== 0 && (s.heldSince < stalledSince || s.behindTooFar(now))) s.cutOff();
    });
  };

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
    clearInterval(this.sweeper);
    if (this.pumping) clearImmediate(this.pumping);
    this.pumping = undefined;
    this.fanout = undefined;
    this.draining = [];
    this.drainingHead = 0;
    this.endStreams();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
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

    res.writeHead(200, SSE_HEADERS);
    res.socket?.setNoDelay(true);
    const s = new Subscriber(res, this.host, {
      filter,
      format: request.format,
      ...(request.subject === undefined ? {} : { subject: request.subject }),
      ...(request.clientIp === undefined ? {} : { clientIp: request.clientIp }),
      ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
    });
    s.write(this.retryFrame);
    compactHead(res);
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
    if (scope.kind === 'public' || request.entities) {
      // A public stream carries only the public entities (all of them when none are named).
      const covered = await this.options.catalog.resolve(scope.kind, request.entities);
      filter.entities = new Set(request.entities ?? covered.map((e) => e.name));
    }
    if (request.keys) filter.keys = new Set(request.keys);
    if (request.where) filter.where = request.where;
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

  private async catchUp(s: Subscriber, lastEventId: string | undefined): Promise<void> {
    const { metrics } = this.options;
    if (s.closed) return;
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
          this.host.sent(replayed);
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
    if (s.closed) return; // cut while replaying, or gone: it resumes from what it got
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
   * SQL, a page at a time. A replay slot is held only while a page is read
   * (at most `maxReplays` reads at once; anonymous streams have their own,
   * smaller share), never while the page is written: a client that does not
   * read holds no slot, and is cut after `stallMs` (Subscriber.drained).
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
    const slots = s.subject === undefined ? this.anonymousReplaySlots : this.replaySlots;
    let replayed = 0;
    let after = from;
    for (;;) {
      if (s.closed) return replayed;
      const at = after;
      const events = await slots.run(() => log.readAfter(at, page, only));
      let written = 0;
      for (const e of events) {
        if (s.closed) break;
        const event = new FeedEvent(e, this.options.presentation);
        // The log read filtered by scope, entity and key; column filters are checked here.
        if (matches(s.filter, e)) {
          await s.replay(event);
          written++;
        }
        after = event.position;
      }
      replayed += written;
      this.host.sent(written);
      if (events.length < page || s.closed) return replayed;
    }
  }
}

/** Events waiting for dispatch past which the listener is asked to wait (half of it: it goes on). */
const READ_AHEAD_EVENTS = 4096;
/** Events handed out together at most: a socket's corked write of them stays a few tens of KB. */
const RUN_EVENTS = 64;
const sameAudience = (a: FeedEvent, b: FeedEvent): boolean => audienceOf(a.event) === audienceOf(b.event);
/** How often token expiry and stalled clients are checked. */
const SWEEP_MS = 1000;

/**
 * Node keeps a response's head, once sent, as the string it concatenated
 * header by header (a rope of ~90 pieces, ~3 KB); a flat copy of the same
 * text is a third of that, for as long as the stream lives. Node reads it
 * afterwards only to know that headers were sent.
 */
function compactHead(res: ServerResponse): void {
  const r = res as unknown as { _header?: unknown; headersSent: boolean };
  if (r.headersSent && typeof r._header === 'string') r._header = Buffer.from(r._header, 'latin1').toString('latin1');
}

/** The response head of every stream, built once. */
const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};
