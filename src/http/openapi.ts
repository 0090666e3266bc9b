/**
 * The HTTP API described for tools: an OpenAPI 3.1 document built from the
 * same zod schemas the routes parse with (`z.toJSONSchema`), served at
 * /openapi.json. The core describes its own routes; an application passes
 * descriptions of its routes (`startPgfeed({ operations })`).
 */
import { z } from 'zod';
import { ERROR_STATUS } from '../errors';
import { changeEvent, readyData, resetData } from '../events/schema';
import { streamQuery } from './routes/events';

/** One response of an operation: a JSON body described by `schema`, or another media type. */
export interface OperationResponse {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
}

/** One route of the API, as /openapi.json describes it. */
export interface Operation {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Express-style, as mounted: `/api/trips/:id`. */
  path: string;
  summary: string;
  tags?: string[];
  /** Whether it needs a token (bearer header, cookie or access_token). Default true. */
  auth?: boolean;
  /** Descriptions of the `:params` in `path` (each is text). */
  params?: Record<string, string>;
  query?: z.ZodObject;
  body?: z.ZodType;
  responses: Record<number, OperationResponse>;
}

/** `{"error": {"code", "message", ...}}`, the body of every error. */
export const errorBody = z.object({
  error: z.looseObject({ code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS]), message: z.string() }),
});

const json = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

const streamResponses: Record<number, OperationResponse> = {
  200: {
    description:
      'A Server-Sent Event stream: `retry:`, then replayed events, `ready`, live events, `: ping` heartbeats. Event names and payloads: /asyncapi.json.',
    contentType: 'text/event-stream',
  },
  400: { description: 'A malformed parameter, before the stream starts.', schema: errorBody },
  429: { description: 'Too many streams or connection attempts; see Retry-After.', schema: errorBody },
};

/** pgfeed's own routes: operations and streams. */
export const CORE_OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'The process is alive.',
    tags: ['operations'],
    auth: false,
    responses: { 200: { description: 'Alive.', schema: z.object({ status: z.literal('ok') }) } },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Ready: the listener is LISTENing and caught up.',
    tags: ['operations'],
    auth: false,
    responses: {
      200: { description: 'Ready.', schema: z.object({ ready: z.boolean(), listener: z.string(), position: z.string() }) },
      503: {
        description: 'Reconnecting or catching up.',
        schema: z.object({ ready: z.boolean(), listener: z.string(), position: z.string() }),
      },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics.',
    tags: ['operations'],
    auth: false,
    responses: { 200: { description: 'Prometheus text format.', contentType: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document.',
    tags: ['operations'],
    auth: false,
    responses: { 200: { description: 'OpenAPI 3.1.' } },
  },
  {
    method: 'get',
    path: '/asyncapi.json',
    summary: 'The streams: channels, event names, payloads.',
    tags: ['operations'],
    auth: false,
    responses: { 200: { description: 'AsyncAPI 3.0.' } },
  },
  {
    method: 'get',
    path: '/events/company/:companyId',
    summary:
      'Every event of a company (a role of COMPANY_STREAM_ROLES, default admin or cashier, of that company). Resume with Last-Event-ID.',
    tags: ['streams'],
    params: { companyId: 'The company; must be the token’s `company` claim.' },
    query: streamQuery,
    responses: {
      ...streamResponses,
      401: { description: 'No valid token.', schema: errorBody },
      403: { description: 'Not allowed.', schema: errorBody },
    },
  },
  {
    method: 'get',
    path: '/events/user',
    summary: "Events whose userId is the token's sub, within its company.",
    tags: ['streams'],
    query: streamQuery,
    responses: { ...streamResponses, 401: { description: 'No valid token.', schema: errorBody } },
  },
  {
    method: 'get',
    path: '/events/public/:companyId',
    summary: 'Public availability of a company: public projections only, no token.',
    tags: ['streams'],
    auth: false,
    params: { companyId: 'The company.' },
    query: streamQuery,
    responses: streamResponses,
  },
];

/** The OpenAPI 3.1 document of `operations`. */
export function openApiDocument(operations: Operation[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters: unknown[] = [];
    for (const [name, description] of Object.entries(op.params ?? {})) {
      parameters.push({
        name,
        in: 'path',
        required: true,
        description,
        schema: { type: 'string', minLength: 1, maxLength: 200 },
      });
    }
    for (const [name, schema] of Object.entries(op.query?.shape ?? {})) {
      if (name === 'access_token') continue; // described as a security scheme
      parameters.push({
        name,
        in: 'query',
        required: !(schema as z.ZodType).safeParse(undefined).success,
        schema: json(schema as z.ZodType, 'input'),
      });
    }
    if (op.path.startsWith('/events/')) {
      parameters.push({
        name: 'Last-Event-ID',
        in: 'header',
        required: false,
        description: 'Resume after this event id (wins over lastEventId).',
        schema: { type: 'string' },
      });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(op.responses)) {
      const type = r.contentType ?? 'application/json';
      responses[status] = {
        description: r.description,
        ...(r.schema || type !== 'application/json'
          ? { content: { [type]: r.schema ? { schema: json(r.schema, 'output') } : {} } }
          : {}),
      };
    }
    const path = op.path.replace(/:(\w+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][op.method] = {
      summary: op.summary,
      operationId: `${op.method}${path.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      ...(op.tags ? { tags: op.tags } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: json(op.body, 'input') } } } }
        : {}),
      responses,
      security: op.auth === false ? [] : [{ bearer: [] }, { cookie: [] }, { query: [] }],
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      ...info,
      description: 'PostgreSQL changes as live, resumable Server-Sent Event streams, and the JSON API beside them.',
    },
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        cookie: { type: 'apiKey', in: 'cookie', name: 'pgfeed_token' },
        query: { type: 'apiKey', in: 'query', name: 'access_token' },
      },
      schemas: { ChangeEvent: json(changeEvent, 'output'), Ready: json(readyData, 'output'), Reset: json(resetData, 'output') },
    },
  };
}
