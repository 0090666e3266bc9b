/**
 * The streams described for tools: an AsyncAPI 3.0 document with the three
 * channels, every SSE event name they carry and its payload schema, built from
 * the zod schemas of the event (src/events/schema.ts) and of each registered
 * entity's row. Served at /asyncapi.json.
 */
import { z } from 'zod';
import type { EntityDefinition, EntityRegistry } from '../events/entity';
import { changeEvent, op, readyData, resetData } from '../events/schema';

/** The event types of an entity, with the `op` each carries. */
export const EVENT_TYPES = [
  ['created', 'insert'],
  ['updated', 'update'],
  ['deleted', 'delete'],
] as const satisfies readonly (readonly [string, z.infer<typeof op>])[];

// AsyncAPI's default schema format is a superset of JSON Schema draft 7.
const schema = (s: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { target: 'draft-7', io: 'output', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
};

/** The payload of `<entity>.<suffix>` events; `row` is the entity's row, or on public streams its public projection. */
function eventPayload(entity: EntityDefinition, suffix: string, opName: z.infer<typeof op>, row: z.ZodType): z.ZodType {
  return changeEvent.extend({
    type: z.literal(`${entity.name}.${suffix}`),
    entity: z.literal(entity.name),
    op: z.literal(opName),
    row,
    changes: opName === 'update' ? z.record(z.string(), z.unknown()) : z.null(),
  });
}

/** The AsyncAPI 3.0 document of the streams of `entities`. */
export function asyncApiDocument(entities: EntityRegistry, info: { title: string; version: string }): Record<string, unknown> {
  const messages: Record<string, unknown> = {
    ready: {
      name: 'ready',
      title: 'The stream is live',
      summary: 'Sent once replay is done: every event that commits after it is delivered. Its id is the position it reflects.',
      payload: schema(readyData),
    },
    reset: {
      name: 'reset',
      title: 'Cannot resume',
      summary: 'The Last-Event-ID is malformed, unknown or expired: refetch the snapshot; the stream continues live.',
      payload: schema(resetData),
    },
  };
  const channelMessages = { full: ['ready', 'reset'], public: ['ready', 'reset'] };
  for (const entity of entities.all()) {
    for (const [suffix, opName] of EVENT_TYPES) {
      const name = `${entity.name}.${suffix}`;
      messages[name] = {
        name,
        title: `A ${entity.name} row was ${suffix}`,
        summary: `The SSE event \`${name}\`; its id: line is the event id (commit order). With format=html, data is an HTML fragment instead.`,
        payload: schema(eventPayload(entity, suffix, opName, entity.row)),
      };
      channelMessages.full.push(name);
      if (entity.public) {
        messages[`public.${name}`] = {
          name,
          title: `A ${entity.name} row was ${suffix} (public projection)`,
          summary: `The SSE event \`${name}\` on public streams: the row is the public projection only.`,
          payload: schema(eventPayload(entity, suffix, opName, z.record(z.string(), z.unknown()))),
        };
        channelMessages.public.push(`public.${name}`);
      }
    }
  }
  const refs = (names: string[]) => Object.fromEntries(names.map((n) => [n, { $ref: `#/components/messages/${n}` }]));
  const channel = (address: string, description: string, names: string[], params?: Record<string, string>) => ({
    address,
    description,
    messages: refs(names),
    ...(params ? { parameters: Object.fromEntries(Object.entries(params).map(([k, d]) => [k, { description: d }])) } : {}),
  });
  const companyParam = { companyId: 'The company.' };
  const channels = {
    company: channel(
      '/events/company/{companyId}',
      'Every event of a company: a role of COMPANY_STREAM_ROLES (default admin or cashier) whose tenant claim is the company.',
      channelMessages.full,
      companyParam,
    ),
    user: channel('/events/user', "Events whose userId is the token's `sub`, within its company.", channelMessages.full),
    public: channel(
      '/events/public/{companyId}',
      'Availability, no token: public projections only.',
      channelMessages.public,
      companyParam,
    ),
  };
  const operations = Object.fromEntries(
    Object.entries(channels).map(([id, c]) => [
      `receive${id[0]!.toUpperCase()}${id.slice(1)}Events`,
      {
        action: 'receive',
        channel: { $ref: `#/channels/${id}` },
        summary: `Open ${c.address} (GET, Accept: text/event-stream); resume with Last-Event-ID.`,
        messages: Object.keys(c.messages).map((n) => ({ $ref: `#/channels/${id}/messages/${n}` })),
      },
    ]),
  );
  return {
    asyncapi: '3.0.0',
    info: {
      ...info,
      description:
        'Server-Sent Event streams of PostgreSQL changes. Each frame: `id:` (event id, commit order), `event:` (the message name), `data:` (the payload as JSON). Heartbeats are `: ping` comments.',
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { messages },
  };
}
