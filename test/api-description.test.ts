/**
 * The API described for tools: /openapi.json (OpenAPI 3.1) and /asyncapi.json
 * (AsyncAPI 3.0) validate against their official schemas, name every route the
 * app serves, and every event a stream delivers — whose payload matches the
 * schema the document gives for it.
 */
import { execFile } from 'node:child_process';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import type { Router } from 'express';
import { createApp, type AppDeps } from '../src/http/app';
import { domain } from '../src/domain';
import { createLogger } from '../src/log';
import type { Pgfeed, RouteContext } from '../src/service';
import { ROOT } from './support/build';
import type { TestDatabase } from './support/db';
import { EVERY_ENTITY_TYPES, writeEveryEntity } from './support/fixtures';
import { caughtUp, closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { openStream } from './support/stream';
import { parseConfig } from '../src/config';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { schemas: asyncApiSchemas } = require('@asyncapi/specs') as { schemas: Record<string, object> };

type Doc = Record<string, any>;
let db: TestDatabase;
let server: Pgfeed;
let openapi: Doc;
let asyncapi: Doc;

beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase());
  openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as Doc;
  asyncapi = (await (await fetch(`${server.url}/asyncapi.json`)).json()) as Doc;
});
afterAll(async () => closeService(server, db));

/** The official OpenAPI 3.1 schema check, by @seriousme/openapi-schema-validator (an ES module: run by node itself). */
async function validateOpenApi(doc: Doc): Promise<{ valid: boolean; errors?: unknown }> {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const result = await new Validator().validate(JSON.parse(input));
    console.log(JSON.stringify({ valid: result.valid, errors: result.errors }));`;
  const child = execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  child.stdin!.end(JSON.stringify(doc));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(out) as { valid: boolean; errors?: unknown };
}

/** The official AsyncAPI 3.0.0 JSON schema (@asyncapi/specs); it carries its own draft-07 meta-schema. */
function validateAsyncApi(doc: Doc): { valid: boolean; errors: unknown } {
  const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
  addFormats(ajv);
  const valid = ajv.validate(asyncApiSchemas['3.0.0']!, doc);
  return { valid, errors: ajv.errors };
}

describe('the documents validate against the official schemas', () => {
  test('/openapi.json is OpenAPI 3.1', async () => {
    expect(openapi.openapi).toBe('3.1.0');
    expect(await validateOpenApi(openapi)).toEqual({ valid: true });
    // The check can fail: a broken copy is refused.
    expect((await validateOpenApi({ ...openapi, paths: { '/x': { get: { responses: 'none' } } } })).valid).toBe(false);
  }, 30_000);

  test('/asyncapi.json is AsyncAPI 3.0', () => {
    expect(asyncapi.asyncapi).toBe('3.0.0');
    expect(validateAsyncApi(asyncapi)).toEqual({ valid: true, errors: null });
    expect(validateAsyncApi({ ...asyncapi, channels: { x: { address: 42 } } }).valid).toBe(false);
  });
});

/** Every (method, path) the express app routes, walked from its router stack (express 5). */
function routesOf(stack: any[], prefix = ''): string[] {
  const out: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const method of Object.keys(layer.route.methods)) out.push(`${method} ${prefix}${layer.route.path}`);
    } else if (layer.handle?.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...routesOf(layer.handle.stack, prefix + mount));
    }
  }
  return out;
}

test('every route the app serves is in /openapi.json (static assets aside)', () => {
  // The real app assembly with the demo's routers; nothing here is called, only listed.
  const routers: Router[] = domain.routes({ config: parseConfig({}) } as RouteContext);
  const app = createApp({
    logger: createLogger('silent'),
    routers,
    corsOrigins: [],
    trustProxy: false,
    maxBodyBytes: 1024,
    rateLimitPerMinute: 1,
    documents: { openapi: {}, asyncapi: {} },
    opsHere: true,
  } as unknown as AppDeps);
  const routes = routesOf((app as any).router.stack).filter((r) => !r.includes(' /assets/'));
  expect(routes.length).toBeGreaterThan(15);
  const described = Object.entries(openapi.paths as Record<string, object>).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
  const snapshotPaths = ['trips', 'bookings', 'stock', 'checkouts'].map((p) => `get /api/companies/:companyId/${p}`);
  // The snapshot route is one express route with a :path parameter; the document names each of its paths.
  const expanded = routes.flatMap((r) => (r === 'get /api/companies/:companyId/:path' ? snapshotPaths : [r]));
  expect(expanded.filter((r) => !described.includes(r))).toEqual([]);
});

describe('every event a stream delivers is a message of its channel, with a payload its schema accepts', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);

  /** The channel's messages by SSE event name. */
  function messagesOf(channel: string): Map<string, object> {
    const byName = new Map<string, object>();
    for (const ref of Object.values(asyncapi.channels[channel].messages as Record<string, { $ref: string }>)) {
      const message = asyncapi.components.messages[ref.$ref.split('/').at(-1)!];
      byName.set(message.name, message.payload);
    }
    return byName;
  }

  test.each([
    ['company', '/events/company/acme', [...EVERY_ENTITY_TYPES]],
    ['user', '/events/user', EVERY_ENTITY_TYPES.filter((t) => !t.startsWith('trip.') && !t.startsWith('stock.'))],
    ['public', '/events/public/acme', EVERY_ENTITY_TYPES.filter((t) => t.startsWith('trip.') || t.startsWith('stock.'))],
  ])('%s', async (channel, path, types) => {
    const token = await tokenFor(server, 'cora', 'acme', channel === 'user' ? 'customer' : 'admin');
    await caughtUp(server, db.sql); // the previous case's events are not this stream's
    const stream = await openStream(`${server.url}${path}`, { token });
    await stream.waitFor((f) => f.event === 'ready');
    await writeEveryEntity(db.sql, 'acme', 'cora', `doc-${channel}`);
    await stream.waitFor((f) => f.event === types.at(-1) && String(f.json?.key).startsWith(`doc-${channel}`));
    const reset = await openStream(`${server.url}${path}`, { token, lastEventId: 'nonsense' });
    await reset.waitFor((f) => f.event === 'ready');
    reset.close();
    stream.close();

    const messages = messagesOf(channel);
    const frames = [...stream.frames, ...reset.frames];
    expect(frames.map((f) => f.event)).toEqual(expect.arrayContaining([...types, 'ready', 'reset']));
    for (const frame of frames) {
      const payload = messages.get(frame.event);
      expect([frame.event, payload !== undefined]).toEqual([frame.event, true]);
      const valid = ajv.validate(payload!, frame.json);
      expect([frame.event, valid, ajv.errors]).toEqual([frame.event, true, null]);
    }
  });
});
