import type { EntityCatalog } from '../events/catalog';
import type { Position } from '../events/position';
import type { ChangeEvent, ResetData } from '../events/schema';
import type { RowRenderer } from './html';
import { sseFrame } from './sse';

/** How a stream wants events: full rows or the public projection, as JSON or HTML. */
export type View = 'full' | 'public';
export type Format = 'json' | 'html';

/** What turns an event into bytes: the entities (public projections) and the row renderer. */
export interface Presentation {
  /** Public projections: of registered entities and of tables watched from SQL (the catalog). */
  entities: Pick<EntityCatalog, 'publicNames' | 'publicRow' | 'publicChanges'>;
  renderer: RowRenderer;
}

/**
 * An event inside the service: its position, and its SSE frames, each
 * encoded once and shared by every subscriber that receives it.
 */
export class FeedEvent {
  readonly position: Position;
  /** Set when the first frame is written, so lag is observed once per event. */
  delivered = false;
  private readonly frames = new Map<string, Buffer>();

  constructor(
    readonly event: ChangeEvent,
    private readonly presentation: Presentation,
  ) {
    this.position = BigInt(event.id);
  }

  /** What holding the event costs: the bytes of its full JSON frame (encoded now, as nearly every stream needs it). */
  get bytes(): number {
    return this.frame('full', 'json').length;
  }

  frame(view: View, format: Format): Buffer {
    const key = `${view}:${format}`;
    let frame = this.frames.get(key);
    if (!frame && this.event.op === 'reset') {
      // The log misses changes here: every stream says reset and goes on live.
      const data: ResetData = { reason: 'capture_gap', message: 'changes were lost by capture; refetch snapshots' };
      frame = sseFrame({ id: this.event.id, event: 'reset', data: JSON.stringify(data) });
      this.frames.set(key, frame);
    }
    if (!frame) {
      const shown = view === 'public' ? this.publicEvent() : this.event;
      const data = format === 'json' ? JSON.stringify(shown) : this.presentation.renderer.fragment(shown).text;
      frame = sseFrame({ id: this.event.id, event: this.event.type, data });
      this.frames.set(key, frame);
    }
    return frame;
  }

  /** The event as a public stream sends it: projected row and changes, no user. */
  private publicEvent(): ChangeEvent {
    const { entities } = this.presentation;
    const e = this.event;
    if (e.op === 'truncate') return { ...e, userId: null };
    const row = entities.publicRow(e.entity, e.row) ?? {};
    const changes = e.changes && entities.publicChanges(e.entity, row, e.changes);
    return { ...e, userId: null, row, changes };
  }
}
