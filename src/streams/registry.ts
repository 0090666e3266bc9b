import { isBroadcast } from '../events/decode';
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
   * Offers an event to every stream that may see it; returns how many wrote
   * it now. `before` runs for each stream before its offer (the feed corks
   * sockets there when it writes a batch).
   */
  dispatch(event: FeedEvent, before?: (s: Subscriber) => void): number {
    const { companyId, userId, op } = event.event;
    if (isBroadcast(op)) return this.offerAll(this.all, event, before);
    if (companyId === null) return 0;
    let sent = this.offerAll(this.byCompany.get(companyId), event, before);
    if (userId !== null) sent += this.offerAll(this.byUser.get(userKey(companyId, userId)), event, before);
    return sent;
  }

  forEach(fn: (s: Subscriber) => void): void {
    for (const s of this.all) fn(s);
  }

  // The per-stream path of every event: a filter check and a write, nothing else.
  private offerAll(set: Set<Subscriber> | undefined, event: FeedEvent, before: ((s: Subscriber) => void) | undefined): number {
    if (!set) return 0;
    let sent = 0;
    const e = event.event;
    for (const s of set) {
      if (!matches(s.filter, e)) continue;
      before?.(s);
      if (s.offer(event)) sent++;
    }
    return sent;
  }

  private bucketOf(s: Subscriber): { map: Map<string, Set<Subscriber>>; key: string } {
    const { scope } = s.filter;
    return scope.kind === 'user'
      ? { map: this.byUser, key: userKey(scope.companyId, scope.userId) }
      : { map: this.byCompany, key: scope.companyId };
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
