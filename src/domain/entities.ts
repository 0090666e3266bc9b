import { html } from '../express';
import { defineEntity } from '../index';
import { type PublicStock, type PublicTrip, type StockRow, bookingRow, checkoutRow, stockRow, tripRow } from './schema';

type Row = Record<string, unknown>;

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
export function available(row: Pick<StockRow, 'quantity' | 'reserved'>): number {
  return row.quantity - row.reserved;
}

export const trip = defineEntity({
  name: 'trip',
  table: 'public.trips',
  row: tripRow,
  // Rows reach here checked against tripRow, so the projection only picks.
  public: {
    project: (r): PublicTrip => ({
      id: r.id,
      route: r.route,
      departsAt: r.departsAt,
      capacity: r.capacity,
      availableSlots: r.availableSlots,
      bookingHalted: r.bookingHalted,
    }),
  },
  cells: (r: Row) => [
    ['route', r.route],
    ['departs', when(r.departsAt)],
    ['seats left', html`<b class="num">${r.availableSlots}</b> of ${r.capacity}`],
    ['booking', tag(r.bookingHalted ? 'halted' : 'open')],
  ],
});

export const booking = defineEntity({
  name: 'booking',
  table: 'public.bookings',
  userColumn: 'user_id',
  row: bookingRow,
  cells: (r: Row) => [
    ['route', ref('trip', r.tripId)],
    ['seats', r.seats],
    ['status', tag(String(r.status))],
    ['channel', r.channel],
    ['by', ref('user', r.userId)],
    ['booked', when(r.createdAt)],
  ],
});

export const stock = defineEntity({
  name: 'stock',
  table: 'public.stock_items',
  row: stockRow,
  public: {
    project: (r): PublicStock => ({ id: r.id, sku: r.sku, name: r.name, available: available(r) }),
    dependsOn: { available: ['quantity', 'reserved'] },
  },
  // Public rows carry `available` and no quantity/reserved; full rows carry both.
  cells: (r: Row) => [
    ['sku', r.sku],
    ['name', r.name],
    ['available', num(r.available) ?? available(r as StockRow)],
    ['quantity', r.quantity],
    ['reserved', r.reserved],
  ],
});

export const checkout = defineEntity({
  name: 'checkout',
  table: 'public.checkouts',
  userColumn: 'user_id',
  row: checkoutRow,
  cells: (r: Row) => [
    ['item', ref('stock', r.itemId)],
    ['who', ref('user', r.userId)],
    ['status', tag(String(r.status))],
    ['since', when(r.checkedOutAt)],
    ['due', when(r.dueAt)],
  ],
});

/** The domain's entities, registered with pgfeed by `npm start`. */
export const DOMAIN_ENTITIES = [trip, booking, stock, checkout];
