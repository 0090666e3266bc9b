/**
 * `shareTab`: the tabs of one origin that keep the same live collection share one stream. The tab holding a
 * Web Lock named after the collection streams and forwards what it receives on a BroadcastChannel of the same
 * name; the others read their own snapshot and apply what is forwarded. When the holder closes, is paused or
 * its tab goes away, the browser hands the lock to the next tab, which streams from its own position.
 *
 * Exactly once across the hand-overs rests on ids being commit order (docs/ordering.md): every forwarded
 * event carries the holder's position before it (`after`), so a follower whose rows reflect the log up to
 * `position` applies an event that continues from there, skips one it already has (a new holder replaying
 * from further back) and sees a gap when the holder is ahead of it (it was paused, or missed messages), which
 * it closes by reading its snapshot again. The rules are pure (`follow`, `shareKey`) and unit-tested in
 * test/live-collection.test.ts; the following tab is follower.ts; the wiring is tested in a real browser
 * (test/live-share.test.ts).
 */
import type { ChangeEvent } from '../events/schema';
import { compareIds } from './collection';
import type { ConnectionState } from './connection';

/** What tabs sharing a collection say to each other (structured-cloned: plain data only). */
export type TabMessage =
  /** An event the holder's stream delivered; `after` is the holder's position before it. */
  | { kind: 'event'; after: string | undefined; event: ChangeEvent }
  /** The holder's stream is live at `position` (its `ready`). */
  | { kind: 'ready'; after: string | undefined; position: string }
  /** Read your snapshot again: the holder got a `reset`, or reloaded its snapshot while polling. */
  | { kind: 'reload' }
  /** The holder's connection state, which followers show. */
  | { kind: 'state'; state: ConnectionState }
  /** A tab joined: the holder answers with its state. */
  | { kind: 'hello' };

/** What the collection behind a key reads: tabs that agree on all of it can share one stream. */
export interface ShareIdentity {
  url: string;
  scope: unknown;
  entities?: readonly string[];
  keys?: readonly string[];
  where?: Record<string, string>;
}

/** The lock's and the channel's name: `name` when given, else the collection's identity in a stable order. */
export function shareKey(identity: ShareIdentity, name?: string): string {
  if (name !== undefined) return `pgfeed:${name}`;
  const sorted = (list?: readonly string[]) => (list?.length ? [...list].sort() : null);
  const where = Object.entries(identity.where ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `pgfeed:${JSON.stringify([
    identity.url.replace(/\/+$/, ''),
    identity.scope,
    sorted(identity.entities),
    sorted(identity.keys),
    where,
  ])}`;
}

/**
 * What a follower whose rows reflect the log up to `position` does with a forwarded event (or `ready`) that
 * moved the holder from `after` to `id`: apply it, skip it (already reflected), or resynchronise (the holder
 * is past events this tab never saw).
 */
export function follow(position: string, after: string | undefined, id: string): 'apply' | 'skip' | 'gap' {
  if (compareIds(id, position) <= 0) return 'skip';
  if (after === undefined || compareIds(after, position) > 0) return 'gap';
  return 'apply';
}

/** The state a follower shows for its holder's: without the error object (not cloneable as is); never paused or closed. */
export function shareableState(state: ConnectionState): ConnectionState | undefined {
  switch (state.status) {
    case 'paused':
    case 'closed':
      return undefined; // a holder that pauses or closes hands the lock on; the next one says how it goes
    case 'reconnecting':
      return { status: 'reconnecting', retryAt: state.retryAt };
    default:
      return state;
  }
}

/** The channel and the lock of one shared collection, in one tab. */
export interface TabShare {
  post(message: TabMessage): void;
  /** Takes the lock if no tab holds it; resolves whether this tab now holds it. */
  tryLead(): Promise<boolean>;
  /** Waits for the lock; `onLead` runs when this tab gets it. */
  queue(): void;
  /** Leaves the queue, or releases the lock so the next tab streams (a paused tab). */
  stepDown(): void;
  /** Steps down and closes the channel. */
  close(): void;
}

/**
 * Joins the tabs sharing `key`; undefined where the browser lacks Web Locks or BroadcastChannel (Node, old
 * browsers, pages that are not a secure context), where the collection streams on its own.
 */
export function joinTabs(key: string, onMessage: (message: TabMessage) => void, onLead: () => void): TabShare | undefined {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
  if (!locks || typeof BroadcastChannel !== 'function') return undefined;
  const channel = new BroadcastChannel(key);
  channel.onmessage = (e: MessageEvent<TabMessage>) => onMessage(e.data);
  /** Bumped by stepDown: a grant that arrives for a request this tab gave up is handed back at once. */
  let wanted = 0;
  let waiting: AbortController | undefined;
  let release: (() => void) | undefined;

  /** Requests the lock; resolves false if not granted (ifAvailable and taken, or aborted). */
  const request = (options: LockOptions): Promise<boolean> => {
    const mine = wanted;
    return new Promise<boolean>((granted) => {
      locks
        .request(key, options, (lock) => {
          if (!lock || mine !== wanted) return granted(false);
          granted(true);
          return new Promise<void>((done) => (release = done)); // held until released, or the tab goes away
        })
        .catch(() => granted(false)); // aborted while queued
    });
  };

  const stepDown = () => {
    wanted++;
    waiting?.abort();
    waiting = undefined;
    release?.();
    release = undefined;
  };

  return {
    post: (message) => channel.postMessage(message),
    tryLead: () => request({ ifAvailable: true }),
    queue() {
      const mine = wanted;
      waiting = new AbortController();
      void request({ signal: waiting.signal }).then((granted) => {
        if (!granted || mine !== wanted) return; // stepped down meanwhile: stepDown() released it
        waiting = undefined;
        onLead();
      });
    },
    stepDown,
    close() {
      stepDown();
      channel.close();
    },
  };
}
