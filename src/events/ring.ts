import type { Position } from './position';

/** Anything the ring can hold: it only needs the event's position. */
export interface Positioned {
  readonly position: Position;
}

/**
 * The last `capacity` events in id order, for fast resumes. It knows the
 * position just before its oldest event (`floor`): a resume from any position
 * in [floor, newest] is answered wholly from memory.
 */
export class RingBuffer<T extends Positioned> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  private floorPosition: Position;

  constructor(
    readonly capacity: number,
    floor: Position,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
    this.items = new Array<T | undefined>(capacity);
    this.floorPosition = floor;
  }

  get size(): number {
    return this.count;
  }

  /** The position before the oldest held event (everything after it is held). */
  get floor(): Position {
    return this.floorPosition;
  }

  /** The newest position, or the floor when empty. */
  get head(): Position {
    return this.count === 0 ? this.floorPosition : this.at(this.count - 1).position;
  }

  /** Appends an event; ids must increase. Evicts the oldest when full. */
  push(item: T): void {
    if (item.position <= this.head) throw new RangeError(`ring: event ${item.position} is not after ${this.head}`);
    if (this.count === this.capacity) {
      this.floorPosition = this.at(0).position;
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    } else {
      this.items[(this.start + this.count) % this.capacity] = item;
      this.count++;
    }
  }

  /** True when `position` is the floor or the id of a held event. */
  knows(position: Position): boolean {
    if (position === this.floorPosition) return true;
    const i = this.lowerBound(position);
    return i < this.count && this.at(i).position === position;
  }

  /**
   * Events after `position`, oldest first, or undefined when the ring cannot answer
   * (position is older than the floor or newer than the head).
   */
  after(position: Position): T[] | undefined {
    if (position < this.floorPosition || position > this.head) return undefined;
    const out: T[] = [];
    for (let i = this.lowerBound(position + 1n); i < this.count; i++) out.push(this.at(i));
    return out;
  }

  private at(i: number): T {
    return this.items[(this.start + i) % this.capacity] as T;
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
