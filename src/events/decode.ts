import { z } from 'zod';
import {
  type ChangeEvent,
  type NotificationPayload,
  type Op,
  type WireEvent,
  notificationPayload,
  rowSchemas,
  wireEvent,
} from './schema';

const TYPE_SUFFIX: Record<Op, string> = { insert: 'created', update: 'updated', delete: 'deleted' };

/** snake_case → camelCase, for column names. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A copy of `obj` with camelCase keys (one level: column names). */
export function camelKeys(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[camelCase(k)] = v;
  return out;
}

/** Why a payload could not be decoded; the listener logs and counts it. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

/** Parses the text of a NOTIFY payload: a whole event, or the id of a large one. */
export function parseNotification(text: string): NotificationPayload {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new DecodeError('notification payload is not JSON', { cause });
  }
  const parsed = notificationPayload.safeParse(json);
  if (!parsed.success) throw new DecodeError(`notification payload: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Turns the stored (snake_case) event into the delivered one; rows of built-in entities are checked. */
export function toChangeEvent(input: WireEvent | unknown): ChangeEvent {
  const parsed = wireEvent.safeParse(input);
  if (!parsed.success) throw new DecodeError(`event: ${z.prettifyError(parsed.error)}`);
  const w = parsed.data;
  const row = camelKeys(w.row);
  const schema = rowSchemas[w.entity as keyof typeof rowSchemas] as z.ZodType | undefined;
  if (schema) {
    const checked = schema.safeParse(row);
    if (!checked.success) throw new DecodeError(`event ${w.id} (${w.entity}) row: ${z.prettifyError(checked.error)}`);
  }
  return {
    id: w.id,
    type: `${w.entity}.${TYPE_SUFFIX[w.op]}`,
    entity: w.entity,
    op: w.op,
    companyId: w.company_id,
    userId: w.user_id,
    key: w.key,
    row,
    changes: w.changes === null ? null : camelKeys(w.changes),
    committedAt: w.committed_at,
  };
}
