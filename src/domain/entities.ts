import { defineEntity } from '../index';
import { type PublicStock, type PublicTrip, type StockRow, bookingRow, checkoutRow, stockRow, tripRow } from './schema';

type Row = Record<string, unknown>;

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
/** Minutes precision, UTC, as the pages show times until they render local time. */
const when = (v: unknown) => (typeof v === 'string' ? v.slice(0, 16).replace('T', ' ') : '');

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
    ['capacity', r.capacity],
    ['available', r.availableSlots],
    ['booking', r.bookingHalted ? 'halted' : 'open'],
  ],
});

export const booking = defineEntity({
  name: 'booking',
  table: 'public.bookings',
  userColumn: 'user_id',
  row: bookingRow,
  cells: (r: Row) => [
    ['booking', r.id],
    ['trip', r.tripId],
    ['seats', r.seats],
    ['channel', r.channel],
    ['status', r.status],
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
    ['item', r.itemId],
    ['user', r.userId],
    ['status', r.status],
    ['due', when(r.dueAt)],
  ],
});

/** The domain's entities, registered with pgfeed by `npm start`. */
export const DOMAIN_ENTITIES = [trip, booking, stock, checkout];
