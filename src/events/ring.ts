/** Anything the ring can hold: it only needs the event's position. */
export interface Sequenced {
  readonly seq: bigint;
}

/**
 * The last `capacity` events in id order, for fast resumes. It knows the
 * position just before its oldest event (`floor`): a resume from any position
 * in [floor, newest] is answered wholly from memory.
 */
export class RingBuffer<T extends Sequenced> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  private floorSeq: bigint;

  constructor(
    readonly capacity: number,
    floor: bigint,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
    this.items = new Array<T | undefined>(capacity);
    this.floorSeq = floor;
  }

  get size(): number {
    return this.count;
  }

  /** The position before the oldest held event (everything after it is held). */
  get floor(): bigint {
    return this.floorSeq;
  }

  /** The newest position, or the floor when empty. */
  get head(): bigint {
    return this.count === 0 ? this.floorSeq : this.at(this.count - 1).seq;
  }

  /** Appends an event; ids must increase. Evicts the oldest when full. */
  push(item: T): void {
    if (item.seq <= this.head) throw new RangeError(`ring: event ${item.seq} is not after ${this.head}`);
    if (this.count === this.capacity) {
      this.floorSeq = this.at(0).seq;
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    } else {
      this.items[(this.start + this.count) % this.capacity] = item;
      this.count++;
    }
  }

  /** Forgets everything and restarts at `floor` (used when history had a gap this ring never saw). */
  reset(floor: bigint): void {
    this.items.fill(undefined);
    this.start = 0;
    this.count = 0;
    this.floorSeq = floor;
  }

  /** True when `seq` is the floor or the id of a held event. */
  knows(seq: bigint): boolean {
    if (seq === this.floorSeq) return true;
    const i = this.lowerBound(seq);
    return i < this.count && this.at(i).seq === seq;
  }

  /**
   * Events after `seq`, oldest first, or undefined when the ring cannot answer
   * (seq is older than the floor or newer than the head).
   */
  after(seq: bigint): T[] | undefined {
    if (seq < this.floorSeq || seq > this.head) return undefined;
    const out: T[] = [];
    for (let i = this.lowerBound(seq + 1n); i < this.count; i++) out.push(this.at(i));
    return out;
  }

  private at(i: number): T {
    return this.items[(this.start + i) % this.capacity] as T;
  }

  /** Index of the first held event with seq >= target. */
  private lowerBound(target: bigint): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).seq < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
