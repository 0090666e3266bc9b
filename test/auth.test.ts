import { SignJWT } from 'jose';
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies } from './support/fixtures';
import { capturingLogs, TEST_JWT_SECRET, startService, tokenFor } from './support/service';
import { openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;
const logs = capturingLogs('debug');
const logLines = logs.lines;

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  // Tokens up to 60 days: one test needs a stream that outlives a timer's longest wait.
  server = await startService(db.url, { LOG_LEVEL: 'debug', MAX_TOKEN_TTL: '60d' }, logs.options);
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

async function errorOf(path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}${path}`, init);
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, code: body.error.code, message: body.error.message, type: res.headers.get('content-type') };
}

const sign = (
  claims: Record<string, unknown>,
  secret = TEST_JWT_SECRET,
  exp: number | null = Math.floor(Date.now() / 1000) + 60,
) => {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(new TextEncoder().encode(secret));
};

describe('401 when the token is missing or invalid', () => {
  test.each([
    ['no token', {}],
    ['a malformed Authorization header', { Authorization: 'Token abc' }],
    ['a token that is not a JWT', { Authorization: 'Bearer not-a-jwt' }],
  ])('%s', async (_name, headers) => {
    const e = await errorOf('/events/company/acme', { headers });
    expect(e).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(e.type).toMatch(/application\/json/);
  });

  test('signed with another secret', async () => {
    const token = await sign({ sub: 'alice', company: 'acme', role: 'admin' }, 'another-secret-another-secret-another-secret');
    expect(await errorOf('/events/company/acme', { headers: { Authorization: `Bearer ${token}` } })).toMatchObject({
      status: 401,
      message: 'the token signature is invalid',
    });
  });

  test('expired', async () => {
    const token = await sign(
      { sub: 'alice', company: 'acme', role: 'admin' },
      TEST_JWT_SECRET,
      Math.floor(Date.now() / 1000) - 10,
    );
    expect(await errorOf('/events/user', { headers: { Authorization: `Bearer ${token}` } })).toMatchObject({
      status: 401,
      message: 'the token has expired',
    });
  });

  test.each([
    ['no exp', { sub: 'alice', company: 'acme', role: 'admin' }, null],
    ['no company', { sub: 'alice', role: 'admin' }, undefined],
    ['an unknown role', { sub: 'alice', company: 'acme', role: 'owner' }, undefined],
  ])('%s', async (_name, claims, exp) => {
    const token = await sign(claims, TEST_JWT_SECRET, exp === null ? null : Math.floor(Date.now() / 1000) + 60);
    expect(await errorOf('/events/user', { headers: { Authorization: `Bearer ${token}` } })).toMatchObject({ status: 401 });
  });
});

test('a role the demo does not know is 401 on its API too (the core names no role; the demo does)', async () => {
  const token = await sign({ sub: 'alice', company: 'acme', role: 'owner' });
  const res = await fetch(`${server.url}/api/trips/nope/bookings`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ seats: 1, channel: 'cashier' }),
  });
  expect(res.status).toBe(401);
  expect(await res.json()).toMatchObject({
    error: { code: 'unauthorized', message: "the token's role must be one of admin, cashier, customer" },
  });
});

describe('403 when the token is valid but not allowed', () => {
  test('a customer on a company stream', async () => {
    const token = await tokenFor(server, 'cora', 'acme', 'customer');
    expect(await errorOf('/events/company/acme', { headers: { Authorization: `Bearer ${token}` } })).toMatchObject({
      status: 403,
      code: 'forbidden',
    });
  });
  test("an admin on another company's stream", async () => {
    const token = await tokenFor(server, 'gina', 'globex', 'admin');
    expect(await errorOf('/events/company/acme', { headers: { Authorization: `Bearer ${token}` } })).toMatchObject({
      status: 403,
      code: 'forbidden',
    });
  });
});

describe('400 before the stream starts for bad parameters', () => {
  let auth: Record<string, string>;
  beforeAll(async () => {
    auth = { Authorization: `Bearer ${await tokenFor(server, 'alice', 'acme', 'admin')}` };
  });
  test.each([
    ['an unknown entity', '/events/company/acme?entities=trip,ufo', /unknown entity: ufo/],
    ['an empty entity list', '/events/company/acme?entities=', /entities/],
    ['an entity list with a blank item', '/events/company/acme?entities=trip,,stock', /entities/],
    ['a repeated parameter', '/events/company/acme?entities=trip&entities=stock', /entities/],
    ['an unknown format', '/events/company/acme?format=xml', /format/],
    ['an empty key', '/events/company/acme?keys=a,', /keys/],
    ['a public stream asking for bookings', '/events/public/acme?entities=booking', /public streams carry only trip and stock/],
  ])('%s', async (_name, path, message) => {
    const e = await errorOf(path, { headers: auth });
    expect(e).toMatchObject({ status: 400, code: 'invalid_query' });
    expect(e.message).toMatch(message);
  });
});

test('the token may come from the pgfeed_token cookie or access_token, which is never logged', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const viaCookie = await openStream(`${server.url}/events/company/acme`, { headers: { Cookie: `pgfeed_token=${token}` } });
  expect(viaCookie.status).toBe(200);
  await viaCookie.waitFor((f) => f.event === 'ready');
  const viaQuery = await openStream(`${server.url}/events/company/acme?access_token=${token}`);
  expect(viaQuery.status).toBe(200);
  await viaQuery.waitFor((f) => f.event === 'ready');
  viaCookie.close();
  viaQuery.close();
  await viaQuery.ended;
  const bad = await fetch(`${server.url}/events/company/acme?access_token=${token}x`);
  expect(bad.status).toBe(401);
  await bad.text();
  await new Promise<void>((resolve) => setImmediate(resolve));
  const logs = logLines.join('');
  expect(logs).toContain('"path":"/events/company/acme"');
  expect(logs).not.toContain(token.slice(20));
});

test('the stream carries the SSE headers and ends when the token expires', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin', 1);
  const s = await openStream(`${server.url}/events/company/acme`, { token });
  expect(s.headers.get('cache-control')).toMatch(/no-cache/);
  expect(s.headers.get('x-accel-buffering')).toBe('no');
  await s.waitFor((f) => f.event === 'ready');
  expect(s.text()).toMatch(/^retry: \d+\n\n/);
  await s.ended; // the server closes it at `exp`; the suite's timeout is the guard
  expect(s.frames.at(-1)?.event).toBe('ready');
});

test('a token valid for longer than a timer can wait (40 days) keeps its stream open', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin', 40 * 86400);
  const s = await openStream(`${server.url}/events/company/acme`, { token });
  await s.waitFor((f) => f.event === 'ready');
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('long-token', 'acme', 'L', '2026-12-24T08:00:00Z', 1, 1)`;
  await s.waitFor((f) => f.json?.key === 'long-token');
  s.close();
});
