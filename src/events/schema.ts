import { z } from 'zod';

/** Event ids are decimal strings drawn from a database sequence in commit order. */
export const eventId = z.string().regex(/^[1-9]\d{0,18}$/, 'must be a positive decimal event id');

/** A resume position: an event id, or 0 for "the beginning" while nothing was ever pruned. */
export const resumeId = z.string().regex(/^(0|[1-9]\d{0,18})$/, 'must be a decimal event id');

export const op = z.enum(['insert', 'update', 'delete']);
export type Op = z.infer<typeof op>;

/** What the capture trigger sends and `pgfeed.event_json` returns (snake_case, as stored). */
export const wireEvent = z.object({
  id: eventId,
  entity: z.string().min(1),
  op,
  company_id: z.string().nullable(),
  user_id: z.string().nullable(),
  key: z.string(),
  row: z.record(z.string(), z.unknown()),
  changes: z.record(z.string(), z.unknown()).nullable(),
  committed_at: z.string(),
});
export type WireEvent = z.infer<typeof wireEvent>;

/** A NOTIFY payload too big for the 8000-byte limit: only the id; the row is read from pgfeed.events. */
export const largeEventHint = z.object({ id: eventId, large: z.literal(true) });

export const notificationPayload = z.union([largeEventHint, wireEvent]);
export type NotificationPayload = z.infer<typeof notificationPayload>;

/** The event as streams deliver it (the `data:` of a frame). */
export const changeEvent = z.object({
  id: eventId,
  type: z.string(),
  entity: z.string(),
  op,
  companyId: z.string().nullable(),
  userId: z.string().nullable(),
  key: z.string(),
  row: z.record(z.string(), z.unknown()),
  changes: z.record(z.string(), z.unknown()).nullable(),
  committedAt: z.string(),
});
export type ChangeEvent = z.infer<typeof changeEvent>;

const timestamp = z.string();

/** Rows of the built-in tables as events and snapshots carry them (camelCase). Extra columns pass through. */
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

export const rowSchemas = { trip: tripRow, booking: bookingRow, stock: stockRow, checkout: checkoutRow } as const;
export type TripRow = z.infer<typeof tripRow>;
export type BookingRow = z.infer<typeof bookingRow>;
export type StockRow = z.infer<typeof stockRow>;
export type CheckoutRow = z.infer<typeof checkoutRow>;

/** An event of one built-in entity, with its row typed. */
export type EntityEvent<E extends string, R> = Omit<ChangeEvent, 'entity' | 'row' | 'changes'> & {
  entity: E;
  row: R;
  changes: Partial<R> | null;
};
export type TripEvent = EntityEvent<'trip', TripRow>;
export type BookingEvent = EntityEvent<'booking', BookingRow>;
export type StockEvent = EntityEvent<'stock', StockRow>;
export type CheckoutEvent = EntityEvent<'checkout', CheckoutRow>;
export type KnownEvent = TripEvent | BookingEvent | StockEvent | CheckoutEvent;

/** Narrows an event to a built-in entity, so its row is typed. */
export function isEntity<E extends KnownEvent['entity']>(
  event: ChangeEvent,
  entity: E,
): event is Extract<KnownEvent, { entity: E }> & ChangeEvent {
  return event.entity === entity;
}

/** Public projections (section 4: availability only, never users or bookings). */
export const publicTrip = tripRow.pick({
  id: true,
  route: true,
  departsAt: true,
  capacity: true,
  availableSlots: true,
  bookingHalted: true,
});
export const publicStock = z.object({ id: z.string(), sku: z.string(), name: z.string(), available: z.number().int() });
export type PublicTrip = z.infer<typeof publicTrip>;
export type PublicStock = z.infer<typeof publicStock>;

/** `event: ready` data. */
export const readyData = z.object({ lastEventId: resumeId.nullable(), replayed: z.number().int().nonnegative() });
export type ReadyData = z.infer<typeof readyData>;

/** `event: reset` data. */
export const resetReason = z.enum(['malformed', 'unknown', 'expired']);
export const resetData = z.object({ reason: resetReason, message: z.string().optional() });
export type ResetData = z.infer<typeof resetData>;
