import type { ServerResponse } from 'node:http';
import type { Position } from '../events/position';
import type { ReadyData, ResetData } from '../events/schema';
import { type FeedEvent, type Format, frameKind } from './feed-event';
import type { Filter } from './filter';
import { sseFrame } from './sse';

/**
 * What every stream of a feed shares: bounds and callbacks live here once,
 * not as options and closures on each of 10 000 subscribers.
 */
export interface SubscriberHost {
  /**
   * Bytes after which the client is cut off: bytes of events held while the
   * socket is full or a replay is still being written.
   */
  readonly maxBufferedBytes: number;
  /**
   * Bytes a live stream whose client is still reading (its socket drained
   * within DRAIN_GRACE_MS) may be behind: the ring's budget, as the events
   * it is behind on are the ring's anyway.
   */
  readonly maxBehindBytes: number;
  /** How long a replay may wait for a socket that does not drain before the stream is cut. */
  readonly stallMs: number;
  /** Frames written outside live dispatch (replay, held events), counted in batches. */
  sent(frames: number): void;
  /** The stream was cut because its client fell behind (or stopped reading). */
  slow(s: Subscriber): void;
  /** The response closed (client gone, cut off or ended): forget the stream. */
  closed(s: Subscriber): void;
  /**
   * The socket of a stream holding events drained: call `s.flush()` soon. The
   * feed does it in its slices: 2 000 sockets that drain in one turn of the
   * loop would otherwise all be written in that turn.
   */
  drained(s: Subscriber): void;
}

/** What a subscriber needs to know about its stream. */
export interface SubscriberInit {
  filter: Filter;
  format: Format;
  /** The token's subject, for the per-user connection limit (none for public streams). */
  subject?: string;
  /** The client's address, counted for anonymous streams. */
  clientIp?: string;
  /** When the token expires (ms since the epoch). */
  expiresAt?: number;
}

/** The subscriber of a stream's response, for the listeners every stream shares. */
const SUBSCRIBER = Symbol('pgfeed.subscriber');
type Streaming = ServerResponse & { [SUBSCRIBER]?: Subscriber };

/**
 * The 'close' and 'drain' listeners of every stream: one function each,
 * called with the response as `this`, instead of two closures (and their
 * context) per stream.
 */
function onResponseClose(this: Streaming): void {
  this[SUBSCRIBER]?.closedByResponse();
}
function onResponseDrain(this: Streaming): void {
  this[SUBSCRIBER]?.drainHeld();
}

/** How recently a socket must have drained for its client to count as reading. */
const DRAIN_GRACE_MS = 1000;

/** Replaying: live events are held until `goLive`. */
const REPLAYING = 0;
/** Live, writing each event as it comes. */
const FLOWING = 1;
/** Live, but the socket is full: events are held (bounded in bytes) until it drains. */
const HELD = 2;
type Mode = typeof REPLAYING | typeof FLOWING | typeof HELD;

/**
 * One open stream. It starts replaying, with live events held; `goLive`
 * writes the held ones it has not already replayed. Live, it writes an event
 * as long as the socket takes it; when the socket is full it holds events by
 * reference (the frames are shared) and writes them as the socket drains, so
 * a client that keeps up receives a burst of any size and one that does not
 * is cut once the bytes held pass the bound. `position` is the id of the
 * newest event this stream has covered: every event at or below it that the
 * client may see has been written, so later copies are dropped.
 */
export class Subscriber {
  readonly filter: Filter;
  /** The slot of this stream's frames in every FeedEvent (view and format). */
  readonly kind: number;
  readonly subject: string | undefined;
  readonly clientIp: string | undefined;
  readonly expiresAt: number | undefined;
  position: Position = 0n;
  /** While live and held: when the socket last drained (or filled); 0 when it is not full. */
  heldSince = 0;
  private mode: Mode = REPLAYING;
  private pending: FeedEvent[] = [];
  private pendingBytes = 0;
  private closedValue = false;

  constructor(
    readonly res: ServerResponse,
    private readonly host: SubscriberHost,
    init: SubscriberInit,
  ) {
    this.filter = init.filter;
    this.kind = frameKind(init.filter.scope.kind === 'public' ? 'public' : 'full', init.format);
    this.subject = init.subject;
    this.clientIp = init.clientIp;
    this.expiresAt = init.expiresAt;
    // A client gone while the stream was being admitted never fires 'close' again.
    if (res.destroyed) this.closedValue = true;
    else {
      (res as Streaming)[SUBSCRIBER] = this;
      res.on('close', onResponseClose);
    }
  }

  get closed(): boolean {
    return this.closedValue;
  }

  /** True while live and writing straight to the socket. */
  get flowing(): boolean {
    return this.mode === FLOWING;
  }

  /**
   * A live event that matches this stream's filter. True when it was written
   * now (what the feed counts per event); false when it was dropped or held.
   */
  offer(event: FeedEvent): boolean {
    if (this.closedValue || event.position <= this.position) return false;
    if (this.mode !== FLOWING) {
      this.hold(event);
      return false;
    }
    this.position = event.position;
    if (!this.res.write(event.at(this.kind))) this.startHolding();
    return true;
  }

  /** Writes a replayed event, waiting (a bounded time) for the socket to drain so replays respect backpressure. */
  async replay(event: FeedEvent): Promise<void> {
    if (this.closedValue || event.position <= this.position) return;
    this.position = event.position;
    if (!this.res.write(event.at(this.kind))) await this.drained();
  }

  /** Marks everything up to `position` as covered without sending it (nothing there for this stream). */
  cover(position: Position): void {
    if (position > this.position) this.position = position;
  }

  /**
   * Writes held events not yet covered, waiting for the socket like a replay
   * (more may be held meanwhile), then switches to live delivery.
   */
  async goLive(): Promise<void> {
    while (this.pending.length > 0 && !this.closedValue) {
      const held = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      let written = 0;
      for (const event of held) {
        if (this.closedValue) break;
        if (event.position <= this.position) continue;
        this.position = event.position;
        written++;
        if (!this.res.write(event.at(this.kind))) await this.drained();
      }
      this.host.sent(written);
    }
    if (this.mode === REPLAYING) this.mode = FLOWING;
  }

  sendReady(data: ReadyData): void {
    this.write(sseFrame({ id: data.lastEventId ?? undefined, event: 'ready', data: JSON.stringify(data) }));
  }

  sendReset(data: ResetData): void {
    this.write(sseFrame({ event: 'reset', data: JSON.stringify(data) }));
  }

  /** Raw bytes (retry, heartbeat); skipped while events are held, as the socket is full anyway. */
  write(buf: Buffer): void {
    if (this.closedValue || this.mode === HELD) return;
    this.res.write(buf);
  }

  /** Ends the stream cleanly (shutdown, token expiry). */
  end(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.res.end();
  }

  /** The client cannot keep up or stopped reading: drop it; it resumes with Last-Event-ID and loses nothing. */
  cutOff(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.pending = [];
    this.host.slow(this);
    this.res.destroy();
  }

  private hold(event: FeedEvent): void {
    // Held events are bounded in bytes, whether a replay or a full socket holds them up.
    this.pendingBytes += event.at(this.kind).length;
    if (this.behindTooFar(Date.now())) this.cutOff();
    else this.pending.push(event);
  }

  /**
   * A client that stopped reading is cut once it is SLOW_CLIENT_MAX_BYTES
   * behind. One that reads, but slower than a burst arrives (a 100 000-row
   * transaction), is given the burst as its socket drains, up to the ring's
   * budget: cutting it would only bring it back for a replay of the same events.
   */
  behindTooFar(now: number): boolean {
    if (this.pendingBytes <= this.host.maxBufferedBytes) return false;
    if (this.mode !== HELD) return true; // replaying: live events wait on the replay, not on the client
    return now - this.heldSince > DRAIN_GRACE_MS || this.pendingBytes > this.host.maxBehindBytes;
  }

  private startHolding(): void {
    this.mode = HELD;
    this.heldSince = Date.now();
    this.res.once('drain', onResponseDrain);
  }

  /** The socket took what it had: the client reads (so it is not stalled); its held events are written by `flush`. */
  drainHeld(): void {
    if (this.closedValue) return;
    this.heldSince = Date.now();
    this.host.drained(this);
  }

  /** Writes held events until the socket is full again, or all are out (see SubscriberHost.drained). */
  flush(): void {
    if (this.closedValue || this.mode !== HELD) return;
    const held = this.pending;
    let i = 0;
    let written = 0;
    let full = false;
    // Corked: the frames written up to the socket's high-water mark leave in one writev, not one
    // syscall each (most frames of a burst to a busy client take this path).
    this.res.cork();
    while (i < held.length && !full) {
      const event = held[i++]!;
      const frame = event.at(this.kind);
      this.pendingBytes -= frame.length;
      if (event.position <= this.position) continue;
      this.position = event.position;
      written++;
      full = !this.res.write(frame);
    }
    this.res.uncork();
    this.host.sent(written);
    if (full) {
      this.heldSince = Date.now();
      // Copying the rest once per drain (≥ a socket buffer of frames) is cheaper than a queue per stream.
      this.pending = held.slice(i);
      this.res.once('drain', onResponseDrain);
      return;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.mode = FLOWING;
    this.heldSince = 0;
  }

  /** The response closed (client gone, cut off or ended). */
  closedByResponse(): void {
    this.closedValue = true;
    this.pending = [];
    this.host.closed(this);
  }

  /** Resolves when the socket drains or closes; cuts the stream if it does neither within `stallMs`. */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closedValue) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      // A client that stopped reading must not hold a replay (and what it holds) forever.
      const timer = setTimeout(() => {
        this.cutOff();
        done();
      }, this.host.stallMs);
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }
}
