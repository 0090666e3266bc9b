import { z } from 'zod';
import type { EntityRegistry } from './entity';
import { type ChangeEvent, type NotificationPayload, type Op, notificationPayload, storedEvent } from './schema';

const TYPE_SUFFIX: Record<Op, string> = {
  insert: 'created',
  update: 'updated',
  delete: 'deleted',
  truncate: 'truncated',
  reset: 'reset',
};

/** Records that belong to no company and reach every stream (see `op`). */
export const isBroadcast = (op: Op) => op === 'truncate' || op === 'reset';

/** Every event renames the same few column names: the regex runs once per name. */
const camelNames = new Map<string, string>();

/** snake_case → camelCase, for column names. */
export function camelCase(name: string): string {
  let camel = camelNames.get(name);
  if (camel === undefined) {
    camel = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    // Column names are few; keys of arbitrary jsonb are not: stop remembering past a bound.
    if (camelNames.size < 10_000) camelNames.set(name, camel);
  }
  return camel;
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

/** Why a stored event is not delivered (see Skips): stable reasons, the metric's label. */
export type SkipReason = 'row_schema' | 'no_company' | 'malformed';

/** A stored event decoded, or why it cannot be: data pgfeed does not control gives a result, not an exception. */
export type Decoded =
  { ok: true; event: ChangeEvent } | { ok: false; id: string | undefined; entity: string; reason: SkipReason; message: string };

/**
 * Turns a stored (snake_case) event into the delivered one. Rows of
 * registered entities are checked against their schema; tables watched from
 * SQL alone pass through as they are. A row change without a company reaches
 * no stream (its company column was dropped or renamed away): skipped too.
 */
export function decodeEvent(input: unknown, entities: EntityRegistry): Decoded {
  const parsed = storedEvent.safeParse(input);
  if (!parsed.success) {
    const raw = input as { id?: unknown; entity?: unknown } | null;
    return {
      ok: false,
      id: typeof raw?.id === 'string' ? raw.id : undefined,
      entity: typeof raw?.entity === 'string' ? raw.entity : 'unknown',
      reason: 'malformed',
      message: `event: ${z.prettifyError(parsed.error)}`,
    };
  }
  const s = parsed.data;
  const skip = (reason: SkipReason, message: string): Decoded => ({ ok: false, id: s.id, entity: s.entity, reason, message });
  if (!isBroadcast(s.op) && s.company_id === null) return skip('no_company', `event ${s.id} (${s.entity}) has no company`);
  const row = camelKeys(s.row);
  const schema = isBroadcast(s.op) ? undefined : entities.get(s.entity)?.row;
  if (schema) {
    const checked = schema.safeParse(row);
    if (!checked.success) return skip('row_schema', `event ${s.id} (${s.entity}) row: ${z.prettifyError(checked.error)}`);
  }
  return {
    ok: true,
    event: {
      id: s.id,
      type: s.op === 'reset' ? 'reset' : `${s.entity}.${TYPE_SUFFIX[s.op]}`,
      entity: s.entity,
      op: s.op,
      companyId: s.company_id,
      userId: s.user_id,
      key: s.key,
      row,
      changes: s.changes === null ? null : camelKeys(s.changes),
      committedAt: s.committed_at,
    },
  };
}

/** decodeEvent for callers that hold the event must be good (tests, tools): throws DecodeError otherwise. */
export function toChangeEvent(input: unknown, entities: EntityRegistry): ChangeEvent {
  const d = decodeEvent(input, entities);
  if (!d.ok) throw new DecodeError(d.message);
  return d.event;
}
