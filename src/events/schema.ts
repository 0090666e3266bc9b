import { z } from 'zod';

/** Event ids are decimal strings drawn from a database sequence in commit order. */
export const eventId = z.string().regex(/^[1-9]\d{0,18}$/, 'must be a positive decimal event id');

/** A position as the wire carries it: an event id, or 0 for "before the first event". */
export const positionText = z.string().regex(/^(0|[1-9]\d{0,18})$/, 'must be a decimal event id');

/**
 * insert, update, delete: a row changed. truncate (wal capture only): every row
 * of the entity's table is gone. reset: the log misses changes (the capture
 * slot was lost); streams turn it into `event: reset`. Neither of the last two
 * belongs to a company: they reach every stream.
 */
export const op = z.enum(['insert', 'update', 'delete', 'truncate', 'reset']);
export type Op = z.infer<typeof op>;

/** An event as the log stores it and NOTIFY carries it (snake_case): `pgfeed.event_json`. */
export const storedEvent = z.object({
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
export type StoredEvent = z.infer<typeof storedEvent>;

/** A NOTIFY payload too big for the 8000-byte limit: only the id; the row is read from pgfeed.events. */
export const largeEventHint = z.object({ id: eventId, large: z.literal(true) });

/** A batch appended by the WAL capturer: the log holds new events up to `through`. */
export const throughHint = z.object({ through: eventId });

export const notificationPayload = z.union([largeEventHint, throughHint, storedEvent]);
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

/** An event whose row has a known shape. */
export type EntityEvent<E extends string, R> = Omit<ChangeEvent, 'entity' | 'row' | 'changes'> & {
  entity: E;
  row: R;
  changes: Partial<R> | null;
};

/** `event: ready` data. */
export const readyData = z.object({ lastEventId: positionText.nullable(), replayed: z.number().int().nonnegative() });
export type ReadyData = z.infer<typeof readyData>;

/** `event: reset` data. */
export const resetReason = z.enum(['malformed', 'unknown', 'expired', 'capture_gap']);
export const resetData = z.object({ reason: resetReason, message: z.string().optional() });
export type ResetData = z.infer<typeof resetData>;
