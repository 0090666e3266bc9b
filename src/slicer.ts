/** Longest run of a loop over a batch (a page of events, an append's events) before it gives the event loop a turn. */
export const SLICE_MS = 10;

/**
 * Splits a long synchronous loop into slices: `due()` says when SLICE_MS have
 * passed since the loop started or last yielded, `turn()` yields for one turn
 * of the event loop (sockets drain, streams open, /metrics answers). Decoding
 * and publishing a 1 000-event page in one go stalled a busy instance for
 * tens of milliseconds.
 *
 *     const slicer = new Slicer();
 *     for (const item of batch) {
 *       if (slicer.due()) await slicer.turn();
 *       work(item);
 *     }
 */
export class Slicer {
  private since = performance.now();

  constructor(private readonly ms = SLICE_MS) {}

  due(): boolean {
    return performance.now() - this.since > this.ms;
  }

  async turn(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}
