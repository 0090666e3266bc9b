import type { ChangeEvent } from '../events/schema';
import { renderFragment } from './html';
import { publicEvent } from './filter';
import { sseFrame } from './sse';

/** How a stream wants events: full rows or the public projection, as JSON or HTML. */
export type View = 'full' | 'public';
export type Format = 'json' | 'html';

/**
 * An event inside the service: its position as a bigint, and its SSE frames,
 * each encoded once and shared by every subscriber that receives it.
 */
export class FeedEvent {
  readonly seq: bigint;
  /** Set when the first frame is written, so lag is observed once per event. */
  delivered = false;
  private readonly frames = new Map<string, Buffer>();

  constructor(readonly event: ChangeEvent) {
    this.seq = BigInt(event.id);
  }

  frame(view: View, format: Format): Buffer {
    const key = `${view}:${format}`;
    let frame = this.frames.get(key);
    if (!frame) {
      const shown = view === 'public' ? publicEvent(this.event) : this.event;
      const data = format === 'json' ? JSON.stringify(shown) : renderFragment(shown);
      frame = sseFrame({ id: this.event.id, event: this.event.type, data });
      this.frames.set(key, frame);
    }
    return frame;
  }
}
