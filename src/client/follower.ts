/**
 * A tab that follows another tab's stream (`shareTab`, share-tab.ts): it reads its own snapshot while it holds
 * what is forwarded, then applies what continues from its position, reads its snapshot again on a gap or a
 * reload, and shows the streaming tab's state. live() owns the rows and the position; this owns the order.
 */
import type { ChangeEvent } from '../events/schema';
import type { SnapshotPage } from './collection';
import type { ConnectionInput, ConnectionState } from './connection';
import { type TabMessage, follow } from './share-tab';
import { SubscribeError, type SubscribeOptions, backoffDelay, sleep } from './subscribe';

/** The most forwarded messages held while the snapshot is read. */
export const MAX_HELD = 10_000;

/** What a follower needs of its collection. */
export interface FollowerHost<R> {
  /** Where the rows are. */
  position: string | undefined;
  readSnapshot(): Promise<SnapshotPage<R>[]>;
  /** Replaces the rows with `pages`; returns the position they reflect. */
  take(pages: SnapshotPage<R>[]): string;
  apply(event: ChangeEvent): void;
  transition(input: ConnectionInput): void;
  /** A failed snapshot read (reported; a fatal one closes the collection). */
  failed(error: SubscribeError): void;
  /** The rows no longer reflect `position` (the log lost changes): a tab that streams must read its snapshot. */
  lost(): void;
  online(): boolean;
  backoff?: SubscribeOptions['backoff'];
  signal: AbortSignal;
}

export class Follower<R> {
  /** Reading its snapshot: what is forwarded meanwhile waits in `held` and is applied after it. */
  private reading = false;
  private held: TabMessage[] = [];
  private holderState: ConnectionState | undefined;
  /** Bumped when a snapshot read in progress is no longer wanted (the tab leads, pauses, reads again). */
  private generation = 0;

  constructor(private readonly host: FollowerHost<R>) {}

  /** Holds what is forwarded from now: a snapshot read that starts later (or this tab's own stream) covers what came before. */
  hold(): void {
    this.stop();
    this.reading = true;
    this.holderState = undefined;
  }

  /** Stops following (the tab leads or pauses): a snapshot read in progress and what was held are dropped. */
  stop(): void {
    this.generation++;
    this.reading = false;
    this.held = [];
  }

  /** Reads the snapshot, retrying like a stream would; then applies what was held meanwhile. */
  async sync(): Promise<void> {
    const mine = ++this.generation;
    const { host } = this;
    this.reading = true;
    host.transition({ type: 'connect' });
    for (let attempt = 0; ; attempt++) {
      try {
        const pages = await host.readSnapshot();
        if (mine !== this.generation) return;
        this.reading = false;
        host.position = host.take(pages);
        if (this.holderState) host.transition({ type: 'mirror', state: this.holderState });
        const pending = this.held;
        this.held = [];
        for (const message of pending) this.receive(message);
        return;
      } catch (cause) {
        if (mine !== this.generation || host.signal.aborted) return;
        const error =
          cause instanceof SubscribeError
            ? cause
            : new SubscribeError('network', String((cause as Error)?.message ?? cause), undefined, { cause });
        host.failed(error);
        if (error.fatal) return;
        const delay = backoffDelay(attempt, host.backoff);
        host.transition({ type: 'retry', at: Date.now() + delay, online: host.online() });
        await sleep(delay, host.signal).done;
        if (mine !== this.generation) return;
      }
    }
  }

  /** A message of the streaming tab. */
  receive(message: TabMessage): void {
    switch (message.kind) {
      case 'hello':
        return;
      case 'state':
        this.holderState = message.state;
        if (!this.reading) this.host.transition({ type: 'mirror', state: message.state });
        return;
      case 'reload':
        this.host.lost(); // the log lost changes (or the holder polls): the position means nothing now
        this.held = [];
        void this.sync();
        return;
    }
    if (this.reading) {
      // Bounded: what is dropped leaves a gap that `follow` sees once the read is done (and reads again).
      if (this.held.length >= MAX_HELD) this.held = [];
      this.held.push(message);
      return;
    }
    const id = message.kind === 'event' ? message.event.id : message.position;
    const next = follow(this.host.position ?? '0', message.after, id);
    if (next === 'gap') {
      // The holder is past events this tab never saw (it was paused, or a new holder started ahead of it).
      this.held = [message];
      void this.sync();
    } else if (next === 'apply') {
      this.host.position = id;
      if (message.kind === 'event') this.host.apply(message.event);
    }
  }
}
