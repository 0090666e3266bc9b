import type { ServerResponse } from 'node:http';
import type { Position } from '../events/position';
import type { ReadyData, ResetData } from '../events/schema';
import type { FeedEvent, Format, View } from './feed-event';
import type { Filter } from './filter';
import { sseFrame } from './sse';

export interface SubscriberOptions {
  filter: Filter;
  format: Format;
  /** The token's subject, for the per-user connection limit (none for public streams). */
  subject?: string;
  /** The client's address, counted for anonymous streams. */
  clientIp?: string;
  /**
   * Bytes after which the client is cut off: unsent bytes while live, and
   * bytes of live events held while a replay is still being written.
   */
  maxBufferedBytes: number;
  /** Called for every event frame written. */
  onSent: (event: FeedEvent) => void;
  onSlow: () => void;
}

/**
 * One open stream. It starts in replay mode, where live events are held;
 * `goLive` writes the held ones it has not already replayed. `position` is the
 * id of the newest event this stream has covered: every event at or below it
 * that the client may see has been written, so later copies are dropped.
 */
export class Subscriber {
  readonly filter: Filter;
  readonly view: View;
  position: Position = 0n;
  private pending: FeedEvent[] | null = [];
  private pendingBytes = 0;
  private closedValue = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SubscriberOptions,
  ) {
    this.filter = options.filter;
    this.view = options.filter.scope.kind === 'public' ? 'public' : 'full';
    res.once('close', () => (this.closedValue = true));
  }

  get subject(): string | undefined {
    return this.options.subject;
  }

  get clientIp(): string | undefined {
    return this.options.clientIp;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  /** A live event that matches this stream's filter. */
  offer(event: FeedEvent): void {
    if (this.closedValue || event.position <= this.position) return;
    if (this.pending) {
      // A replay that cannot keep up with live traffic is cut off like a slow live stream:
      // held events are bounded in bytes, and the client resumes from what it got.
      this.pendingBytes += this.frameOf(event).length;
      if (this.pendingBytes > this.options.maxBufferedBytes) this.cutOff();
      else this.pending.push(event);
      return;
    }
    this.send(event);
  }

  /** Writes a replayed event, waiting for the socket to drain so replays respect backpressure. */
  async replay(event: FeedEvent): Promise<void> {
    if (this.closedValue || event.position <= this.position) return;
    if (!this.send(event)) await this.drained();
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
    while (this.pending && this.pending.length > 0 && !this.closedValue) {
      const held = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      for (const event of held) {
        if (this.closedValue) return;
        if (event.position > this.position && !this.send(event)) await this.drained();
      }
    }
    this.pending = null;
  }

  sendReady(data: ReadyData): void {
    this.write(sseFrame({ id: data.lastEventId ?? undefined, event: 'ready', data: JSON.stringify(data) }));
  }

  sendReset(data: ResetData): void {
    this.write(sseFrame({ event: 'reset', data: JSON.stringify(data) }));
  }

  /** Raw bytes (retry, heartbeat). */
  write(buf: Buffer): boolean {
    if (this.closedValue) return false;
    const ok = this.res.write(buf);
    // Only live delivery can outrun a client: replay and catch-up wait for 'drain'.
    if (this.pending === null && this.res.writableLength > this.options.maxBufferedBytes) {
      this.cutOff();
      return false;
    }
    return ok;
  }

  /** Ends the stream cleanly (shutdown, token expiry). */
  end(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.res.end();
  }

  private send(event: FeedEvent): boolean {
    const ok = this.write(this.frameOf(event));
    this.position = event.position;
    this.options.onSent(event);
    return ok;
  }

  private frameOf(event: FeedEvent): Buffer {
    return event.frame(this.view, this.options.format);
  }

  /** The client cannot keep up: drop it; it resumes with Last-Event-ID and loses nothing. */
  private cutOff(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.options.onSlow();
    this.res.destroy();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closedValue) return resolve();
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }
}
