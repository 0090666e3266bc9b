import { z } from 'zod';
import type { EntityEvent } from '../index';

const timestamp = z.string();

/** Rows of the domain's tables as events and snapshots carry them (camelCase). Extra columns pass through. */
export const tripRow = z.looseObject({
  id: z.string(),
  companyId: z.string(),
  route: z.string(),
  departsAt: timestamp,
  capacity: z.number().int(),
  availableSlots: z.number().int(),
  bookingHalted: z.boolean(),
  updatedAt: timestamp,
});
export const bookingRow = z.looseObject({
  id: z.string(),
  tripId: z.string(),
  companyId: z.string(),
  userId: z.string().nullable(),
  seats: z.number().int(),
  channel: z.enum(['cashier', 'online']),
  status: z.enum(['confirmed', 'cancelled']),
  createdAt: timestamp,
});
export const stockRow = z.looseObject({
  id: z.string(),
  companyId: z.string(),
  sku: z.string(),
  name: z.string(),
  quantity: z.number().int(),
  reserved: z.number().int(),
  updatedAt: timestamp,
});
export const checkoutRow = z.looseObject({
  id: z.string(),
  companyId: z.string(),
  userId: z.string(),
  itemId: z.string(),
  status: z.enum(['checked_out', 'returned']),
  checkedOutAt: timestamp,
  dueAt: timestamp.nullable(),
  returnedAt: timestamp.nullable(),
});
export type TripRow = z.infer<typeof tripRow>;
export type BookingRow = z.infer<typeof bookingRow>;
export type StockRow = z.infer<typeof stockRow>;
export type CheckoutRow = z.infer<typeof checkoutRow>;

/**
 * Public projections: availability only, never users or bookings. Plain
 * (stripping) objects on purpose: a `pick` of the loose row schemas would let
 * every other column through.
 */
export const publicTrip = z.object({
  id: z.string(),
  route: z.string(),
  departsAt: timestamp,
  capacity: z.number().int(),
  availableSlots: z.number().int(),
  bookingHalted: z.boolean(),
});
export const publicStock = z.object({ id: z.string(), sku: z.string(), name: z.string(), available: z.number().int() });
export type PublicTrip = z.infer<typeof publicTrip>;
export type PublicStock = z.infer<typeof publicStock>;

export type TripEvent = EntityEvent<'trip', TripRow>;
export type BookingEvent = EntityEvent<'booking', BookingRow>;
export type StockEvent = EntityEvent<'stock', StockRow>;
export type CheckoutEvent = EntityEvent<'checkout', CheckoutRow>;
/** An event of the demo domain, narrowed by `entity`. */
export type DomainEvent = TripEvent | BookingEvent | StockEvent | CheckoutEvent;
