import type { Position } from './position';

/** Anything the ring can hold: it needs the event's position and its size in bytes. */
export interface Sized {
  readonly position: Position;
  readonly bytes: number;
}

/** A slot: the event, or only its position when it was too large to keep. */
interface Slot<T> {
  position: Position;
  bytes: number;
  item: T | undefined;
}

/**
 * The last events in id order, for fast resumes, bounded by count and by
 * bytes. It knows the position just before its oldest event (`floor`): a
 * resume from any position in [floor, newest] is answered from memory —
 * unless an event in that range was larger than a `largeShare` of the byte
 * budget: such an event keeps its place (so positions stay contiguous) but
 * not its body, and a resume across it is left to the log rather than let one
 * row evict everything else.
 */
export class RingBuffer<T extends Sized> {
  private readonly slots: (Slot<T> | undefined)[];
  private start = 0;
  private count = 0;
  private totalBytes = 0;
  private floorPosition: Position;

  constructor(
    readonly capacity: number,
    floor: Position,
    readonly maxBytes = Number.POSITIVE_INFINITY,
    private readonly largeShare = 1 / 8,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
    if (!(maxBytes > 0)) throw new RangeError('ring byte budget must be positive');
    this.slots = new Array<Slot<T> | undefined>(capacity);
    this.floorPosition = floor;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of the events held. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** The position before the oldest held event (everything after it is held). */
  get floor(): Position {
    return this.floorPosition;
  }

  /** The newest position, or the floor when empty. */
  get head(): Position {
    return this.count === 0 ? this.floorPosition : this.at(this.count - 1).position;
  }

  /** Appends an event; ids must increase. Evicts the oldest while over the count or the byte budget. */
  push(item: T): void {
    if (item.position <= this.head) throw new RangeError(`ring: event ${item.position} is not after ${this.head}`);
    const kept = item.bytes <= this.maxBytes * this.largeShare;
    const slot: Slot<T> = { position: item.position, bytes: kept ? item.bytes : 0, item: kept ? item : undefined };
    while (this.count > 0 && (this.count === this.capacity || this.totalBytes + slot.bytes > this.maxBytes)) {
      this.evictOldest();
    }
    this.slots[(this.start + this.count) % this.capacity] = slot;
    this.count++;
    this.totalBytes += slot.bytes;
  }

  /** True when `position` is the floor or the id of a held event. */
  knows(position: Position): boolean {
    if (position === this.floorPosition) return true;
    const i = this.lowerBound(position);
    return i < this.count && this.at(i).position === position;
  }

  /**
   * Events after `position`, oldest first, or undefined when the ring cannot
   * answer (position is older than the floor or newer than the head, or an
   * event in the range was too large to keep).
   */
  after(position: Position): T[] | undefined {
    if (position < this.floorPosition || position > this.head) return undefined;
    const out: T[] = [];
    for (let i = this.lowerBound(position + 1n); i < this.count; i++) {
      const { item } = this.at(i);
      if (!item) return undefined;
      out.push(item);
    }
    return out;
  }

  private evictOldest(): void {
    const oldest = this.at(0);
    this.floorPosition = oldest.position;
    this.totalBytes -= oldest.bytes;
    this.slots[this.start] = undefined;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  private at(i: number): Slot<T> {
    return this.slots[(this.start + i) % this.capacity] as Slot<T>;
  }

  /** Index of the first held event with position >= target. */
  private lowerBound(target: Position): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).position < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
