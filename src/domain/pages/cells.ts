/**
 * How the demo's rows look: each entity's labelled cells. Pure (no server import), so the same functions
 * render a row on the server (the first paint, `format=html`) and in the pages' browser bundle
 * (src/domain/pages/browser/): the markup is written once.
 */
import { html } from '../../render';

type Row = Record<string, unknown>;
type Cells = [label: string, value: unknown][];

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

/**
 * A time: UTC to the minute, saying so; the pages' script rewrites it in the
 * reader's zone (`datetime` keeps the instant).
 */
const when = (v: unknown) =>
  typeof v === 'string' && v !== '' ? html`<time datetime="${v}">${v.slice(0, 16).replace('T', ' ')} UTC</time>` : '—';

/** A reference to another row, shown as its id until the page's script finds its label (route, name). */
const ref = (kind: string, id: unknown) =>
  typeof id === 'string' ? html`<span class="ref" data-ref="${kind}:${id}">${id}</span>` : '—';

/** A state word the pages style and select on (`[data-v=halted]`). */
const tag = (v: string) => html`<b class="tag" data-v="${v}">${v.replace('_', ' ')}</b>`;

/** Units of an item that can still be checked out. */
export function available(row: { quantity: number; reserved: number }): number {
  return row.quantity - row.reserved;
}

/** Each demo entity's cells, by entity name. */
export const CELLS = {
  trip: (r: Row): Cells => [
    ['route', r.route],
    ['departs', when(r.departsAt)],
    ['seats left', html`<b class="num">${r.availableSlots}</b> of ${r.capacity}`],
    ['booking', tag(r.bookingHalted ? 'halted' : 'open')],
  ],
  booking: (r: Row): Cells => [
    ['route', ref('trip', r.tripId)],
    ['seats', r.seats],
    ['status', tag(String(r.status))],
    ['channel', r.channel],
    ['by', ref('user', r.userId)],
    ['booked', when(r.createdAt)],
  ],
  // Public rows carry `available` and no quantity/reserved; full rows carry both.
  stock: (r: Row): Cells => [
    ['sku', r.sku],
    ['name', r.name],
    ['available', num(r.available) ?? available(r as { quantity: number; reserved: number })],
    ['quantity', r.quantity],
    ['reserved', r.reserved],
  ],
  checkout: (r: Row): Cells => [
    ['item', ref('stock', r.itemId)],
    ['who', ref('user', r.userId)],
    ['status', tag(String(r.status))],
    ['since', when(r.checkedOutAt)],
    ['due', when(r.dueAt)],
  ],
} as const;
