import { isBroadcast } from '../events/decode';
import type { ChangeEvent } from '../events/schema';
import type { FeedEvent } from './feed-event';
import { matches } from './filter';
import type { Subscriber } from './subscriber';

/**
 * Open streams, indexed so an event only visits the streams of its own
 * company (company and public scopes) or its own user (user scope), never all.
 */
export class Registry {
  private readonly byCompany = new Map<string, Set<Subscriber>>();
  private readonly byUser = new Map<string, Set<Subscriber>>();
  /** Streams per user (company and token subject), and anonymous streams per client address. */
  private readonly perSubject = new Counts();
  private readonly anonymousPerIp = new Counts();
  private anonymousCount = 0;
  private readonly all = new Set<Subscriber>();

  get size(): number {
    return this.all.size;
  }

  /** Open streams of one user: a token subject within a company (the same `sub` in two companies is two users). */
  countFor(companyId: string, subject: string): number {
    return this.perSubject.get(subjectKey(companyId, subject));
  }

  /** Open anonymous streams. */
  get anonymous(): number {
    return this.anonymousCount;
  }

  /** Open anonymous streams from one client address. */
  anonymousFrom(ip: string): number {
    return this.anonymousPerIp.get(ip);
  }

  add(s: Subscriber): void {
    this.all.add(s);
    const bucket = this.bucketOf(s);
    let set = bucket.map.get(bucket.key);
    if (!set) bucket.map.set(bucket.key, (set = new Set()));
    set.add(s);
    this.count(s, 1);
  }

  remove(s: Subscriber): void {
    if (!this.all.delete(s)) return;
    const bucket = this.bucketOf(s);
    const set = bucket.map.get(bucket.key);
    set?.delete(s);
    if (set?.size === 0) bucket.map.delete(bucket.key);
    this.count(s, -1);
  }

  private count(s: Subscriber, by: 1 | -1): void {
    if (s.subject !== undefined) return this.perSubject.add(subjectKey(s.filter.scope.companyId, s.subject), by);
    this.anonymousCount += by;
    if (s.clientIp !== undefined) this.anonymousPerIp.add(s.clientIp, by);
  }

  /**
   * The fan-out of consecutive events of one audience (see `audienceOf`), to
   * run in as many slices as it takes (see Fanout).
   */
  fanout(events: readonly FeedEvent[]): Fanout {
    const { companyId, userId, op } = events[0]!.event;
    if (isBroadcast(op)) return new Fanout(events, [this.all]);
    if (companyId === null) return new Fanout(events, []);
    const user = userId === null ? undefined : this.byUser.get(userKey(companyId, userId));
    return new Fanout(events, [this.byCompany.get(companyId), user]);
  }

  /** The open streams now, as an array a sliced loop can walk while streams open and close. */
  snapshot(): Subscriber[] {
    return [...this.all];
  }

  forEach(fn: (s: Subscriber) => void): void {
    for (const s of this.all) fn(s);
  }

  private bucketOf(s: Subscriber): { map: Map<string, Set<Subscriber>>; key: string } {
    const { scope } = s.filter;
    return scope.kind === 'user'
      ? { map: this.byUser, key: userKey(scope.companyId, scope.userId) }
      : { map: this.byCompany, key: scope.companyId };
  }
}

/**
 * Which streams an event may reach, as a key: consecutive events with the same
 * key visit the same streams, so they can share one fan-out.
 */
export function audienceOf(e: ChangeEvent): string {
  if (isBroadcast(e.op)) return '*';
  if (e.companyId === null) return '';
  return e.userId === null ? `c:${e.companyId}` : `u:${userKey(e.companyId, e.userId)}`;
}

/** Streams visited between two looks at the clock: a fraction of a millisecond of offers (or of flushes). */
export const CHECK_EVERY = 16;

/**
 * The fan-out of a run of consecutive events that reach the same streams:
 * a cursor over those streams that offers each of them the whole run, then
 * moves to the next, until a deadline; the feed's next slice goes on from
 * there. So one event to 2 000 sockets is split across slices instead of
 * stalling the loop, and a socket gets the run's frames in one corked write —
 * one syscall for the run, not one per frame. The feed finishes a run before
 * it starts the next, so every stream gets events in commit order.
 *
 * The cursor is a live Set iterator: a stream that closes before it is reached
 * is skipped; a stream registered meanwhile may be reached, and drops or holds
 * the events by position like any event published before it registered (it
 * covered the ring head, which holds them, or replays them from there).
 */
export class Fanout {
  private readonly cursors: Iterator<Subscriber>[];
  /** Per event of the run: written to at least one stream. */
  private readonly reached: boolean[];

  constructor(
    readonly events: readonly FeedEvent[],
    sets: readonly (Set<Subscriber> | undefined)[],
  ) {
    this.cursors = sets.flatMap((set) => (set && set.size > 0 ? [set.values()] : []));
    this.reached = events.map(() => false);
  }

  /** True once every stream was visited. */
  get done(): boolean {
    return this.cursors.length === 0;
  }

  /** The events of the run some stream was written (so far). */
  delivered(): FeedEvent[] {
    return this.events.filter((_, i) => this.reached[i]);
  }

  /**
   * Offers the run to the streams not visited yet until none is left or
   * `deadline` (performance.now()) passed; returns the frames written now.
   * The per-stream path: a filter check and a write per event. Every
   * flowing stream is corked around its writes, a run of one event too:
   * uncorked, Node's http response corks the socket itself and writes it in
   * a process.nextTick after this slice, so the syscalls of all the streams a
   * slice visited (2 000: 40–50 ms) ran in one turn past the deadline.
   */
  run(deadline: number): number {
    const { events, reached } = this;
    let written = 0;
    let visited = 0;
    while (this.cursors.length > 0) {
      const cursor = this.cursors[0]!;
      for (let next = cursor.next(); !next.done; next = cursor.next()) {
        const s = next.value;
        let corked = false;
        for (let i = 0; i < events.length; i++) {
          const event = events[i]!;
          if (!matches(s.filter, event.event)) continue;
          if (!corked && s.flowing) {
            s.res.cork();
            corked = true;
          }
          if (s.offer(event)) {
            written++;
            reached[i] = true;
          }
        }
        if (corked) s.res.uncork();
        if (++visited % CHECK_EVERY === 0 && performance.now() > deadline) return written;
      }
      this.cursors.shift();
    }
    return written;
  }
}

function userKey(companyId: string, userId: string): string {
  return `${companyId}\u0000${userId}`;
}

/** One user's key: JSON keeps the pair apart whatever characters either holds ("a/b" + "c" is not "a" + "b/c"). */
function subjectKey(companyId: string, subject: string): string {
  return JSON.stringify([companyId, subject]);
}

/** Counts by key that forget a key when it reaches zero. */
class Counts {
  private readonly map = new Map<string, number>();

  get(key: string): number {
    return this.map.get(key) ?? 0;
  }

  add(key: string, by: number): void {
    const n = this.get(key) + by;
    if (n > 0) this.map.set(key, n);
    else this.map.delete(key);
  }
}
