import { isBroadcast } from '../events/decode';
import type { ChangeEvent } from '../events/schema';

/**
 * The feed's events not yet handed out, fair between companies. Every stream
 * sees one company's events (company, user and public scopes alike), so each
 * company's events only need to keep their commit order among themselves:
 * each company has its own first-in-first-out lane, and the lanes take turns,
 * a run at a time. One company's 2 000-row transaction no longer holds back
 * another company's change committed right after it (it waited for the whole
 * burst to be written, ~5 s at 2 000 streams). An event every stream may see
 * (a broadcast) is a barrier: it goes out after everything queued before it,
 * and nothing queued after it passes it.
 */
export class FairQueue<T extends { readonly event: ChangeEvent; readonly bytes: number }> {
  private readonly segments: Segment<T>[] = [];
  private count = 0;
  private totalBytes = 0;

  get size(): number {
    return this.count;
  }

  /** What the queued events hold (their `bytes`). */
  get bytes(): number {
    return this.totalBytes;
  }

  push(item: T): void {
    this.count++;
    this.totalBytes += item.bytes;
    const e = item.event;
    if (isBroadcast(e.op)) {
      this.segments.push({ barrier: item });
      return;
    }
    let last = this.segments.at(-1);
    if (!last || 'barrier' in last) this.segments.push((last = { lanes: new Map(), turns: [] }));
    const key = e.companyId ?? '';
    let lane = last.lanes.get(key);
    if (!lane) {
      last.lanes.set(key, (lane = { items: [], head: 0 }));
      last.turns.push(key);
    }
    lane.items.push(item);
  }

  /**
   * The next run: the lane whose turn it is gives its oldest events, as many
   * in a row (at most `max`) as `together` says reach the same streams; then
   * the next lane's turn. Undefined when empty.
   */
  take(max: number, together: (a: T, b: T) => boolean): T[] | undefined {
    const segment = this.segments[0];
    if (!segment) return undefined;
    if ('barrier' in segment) {
      this.segments.shift();
      this.count--;
      this.totalBytes -= segment.barrier.bytes;
      return [segment.barrier];
    }
    const key = segment.turns.shift()!;
    const lane = segment.lanes.get(key)!;
    const { items } = lane;
    const first = items[lane.head]!;
    const run = [first];
    items[lane.head++] = undefined;
    while (lane.head < items.length && run.length < max && together(first, items[lane.head]!)) {
      run.push(items[lane.head]!);
      items[lane.head++] = undefined;
    }
    this.count -= run.length;
    for (const item of run) this.totalBytes -= item.bytes;
    if (lane.head < items.length) {
      segment.turns.push(key);
      // A lane that never empties under sustained load: drop its taken head now and then.
      if (lane.head > 4096) {
        lane.items = items.slice(lane.head);
        lane.head = 0;
      }
    } else {
      segment.lanes.delete(key);
      if (segment.turns.length === 0) this.segments.shift();
    }
    return run;
  }
}

type Segment<T> = { barrier: T } | { lanes: Map<string, Lane<T>>; turns: string[] };

interface Lane<T> {
  items: (T | undefined)[];
  head: number;
}
