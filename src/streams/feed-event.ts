import type { EntityRegistry } from '../events/entity';
import type { Position } from '../events/position';
import type { ChangeEvent, ResetData } from '../events/schema';
import type { RowRenderer } from './html';
import { sseFrame } from './sse';

/** How a stream wants events: full rows or the public projection, as JSON, compact JSON or HTML. */
export type View = 'full' | 'public';
/** `compact`: JSON where an update carries `key` and `changes` but not the whole `row` (`frame=compact`). */
export type Format = 'json' | 'html' | 'compact';

/** What turns an event into bytes: the entities (public projections) and the row renderer. */
export interface Presentation {
  entities: EntityRegistry;
  renderer: RowRenderer;
}

const FORMATS: readonly Format[] = ['json', 'html', 'compact'];

/**
 * The slot of a (view, format) pair among an event's frames. A subscriber
 * computes it once, so the per-frame path is an array read, not a key built
 * per write.
 */
export function frameKind(view: View, format: Format): number {
  return (view === 'public' ? FORMATS.length : 0) + FORMATS.indexOf(format);
}

/**
 * An event inside the service: its position, and its SSE frames, each
 * encoded once and shared by every subscriber that receives it.
 */
export class FeedEvent {
  readonly position: Position;
  /** The frames encoded so far, by `frameKind`. */
  private readonly frames: (Buffer | undefined)[] = [];

  constructor(
    readonly event: ChangeEvent,
    private readonly presentation: Presentation,
  ) {
    this.position = BigInt(event.id);
  }

  /** What holding the event costs: the bytes of its full JSON frame (encoded now, as nearly every stream needs it). */
  get bytes(): number {
    return this.at(0).length;
  }

  frame(view: View, format: Format): Buffer {
    return this.at(frameKind(view, format));
  }

  /** The frame of kind `kind` (see `frameKind`), encoded on first use. */
  at(kind: number): Buffer {
    return this.frames[kind] ?? this.encode(kind);
  }

  private encode(kind: number): Buffer {
    let frame: Buffer;
    if (this.event.op === 'reset') {
      // The log misses changes here: every stream says reset and goes on live.
      const data: ResetData = { reason: 'capture_gap', message: 'changes were lost by capture; refetch snapshots' };
      frame = sseFrame({ id: this.event.id, event: 'reset', data: JSON.stringify(data) });
    } else {
      const view: View = kind >= FORMATS.length ? 'public' : 'full';
      const format = FORMATS[kind % FORMATS.length]!;
      const shown = view === 'public' ? this.publicEvent() : this.event;
      const data =
        format === 'html'
          ? this.presentation.renderer.fragment(shown).text
          : JSON.stringify(format === 'compact' ? compact(shown) : shown);
      frame = sseFrame({ id: this.event.id, event: this.event.type, data });
    }
    this.frames[kind] = frame;
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

/**
 * The compact frame: an update without `row` (the client applies `changes`
 * to the row it holds by `key`); every other event as it is.
 */
function compact(e: ChangeEvent): unknown {
  if (e.op !== 'update') return e;
  const { row: _row, ...rest } = e;
  return rest;
}
