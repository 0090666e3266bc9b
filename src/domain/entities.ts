import { defineEntity } from '../index';
import { CELLS, available } from './pages/cells';
import { type PublicStock, type PublicTrip, bookingRow, checkoutRow, stockRow, tripRow } from './schema';

export const trip = defineEntity({
  name: 'trip',
  cells: CELLS.trip,
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
});

export const booking = defineEntity({
  name: 'booking',
  cells: CELLS.booking,
  table: 'public.bookings',
  userColumn: 'user_id',
  row: bookingRow,
});

export const stock = defineEntity({
  name: 'stock',
  cells: CELLS.stock,
  table: 'public.stock_items',
  row: stockRow,
  public: {
    project: (r): PublicStock => ({ id: r.id, sku: r.sku, name: r.name, available: available(r) }),
    dependsOn: { available: ['quantity', 'reserved'] },
  },
});

export const checkout = defineEntity({
  name: 'checkout',
  cells: CELLS.checkout,
  table: 'public.checkouts',
  userColumn: 'user_id',
  row: checkoutRow,
});

/** The domain's entities, registered with pgfeed by `npm start`. */
export const DOMAIN_ENTITIES = [trip, booking, stock, checkout];
