/**
 * Hostile neighbours and anonymous floods: anonymous streams have their own
 * budget and a per-address cap, so a signed-in user can always connect;
 * anonymous callers learn nothing about private entities; tokens are bounded
 * in time; operations endpoints can live on a port of their own.
 */
import http from 'node:http';
import { SignJWT } from 'jose';
import type { Pgfeed } from '../../src/service';
import { TEST_JWT_SECRET, metric, fleetOnFreshDatabase, tokenFor } from '../support/service';
import { type OpenStream, openLiveStream } from '../support/stream';

const world = fleetOnFreshDatabase();
const open: OpenStream[] = [];
const raw: http.IncomingMessage[] = [];

afterAll(() => {
  open.forEach((s) => s.close());
  raw.forEach((r) => r.destroy());
});

const service = world.start;

/** Opens a public stream from a given loopback address; resolves with the status. */
function publicFrom(server: Pgfeed, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.url}/events/public/acme`, { localAddress, agent: false }, (res) => {
      raw.push(res);
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    req.on('error', reject);
  });
}

test('anonymous streams cannot take the slots of signed-in users', async () => {
  const server = await service({ MAX_CONNECTIONS: 6, MAX_ANONYMOUS_CONNECTIONS_PER_IP: 100 });
  for (let i = 0; i < 3; i++) open.push(await openLiveStream(`${server.url}/events/public/acme`));
  const refused = await fetch(`${server.url}/events/public/acme`);
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await refused.json()).toMatchObject({ error: { code: 'too_many_connections' } });
  // Half the instance is still there for people with a token.
  for (const [sub, role] of [
    ['alice', 'admin'],
    ['carl', 'cashier'],
    ['cora', 'customer'],
  ] as const) {
    const path = role === 'customer' ? '/events/user' : '/events/company/acme';
    open.push(await openLiveStream(`${server.url}${path}`, { token: await tokenFor(server, sub, 'acme', role) }));
  }
  expect(await metric(server, 'pgfeed_connections_rejected_total', { reason: 'max_anonymous_connections' })).toBe(1);
});

test('one address cannot take every anonymous stream', async () => {
  const server = await service({ MAX_ANONYMOUS_CONNECTIONS_PER_IP: 2 });
  expect(await publicFrom(server, '127.0.0.1')).toBe(200);
  expect(await publicFrom(server, '127.0.0.1')).toBe(200);
  expect(await publicFrom(server, '127.0.0.1')).toBe(429);
  expect(await publicFrom(server, '127.0.0.2')).toBe(200); // another client is not affected
  expect(await metric(server, 'pgfeed_connections_rejected_total', { reason: 'max_anonymous_per_ip' })).toBe(1);
});

test('anonymous callers cannot tell a private entity from one that does not exist, and cost no query', async () => {
  const server = await service({ LISTENER_PING_MS: 600_000 });
  const answer = async (entity: string) => {
    const res = await fetch(`${server.url}/events/public/acme?entities=${entity}`);
    const body = (await res.json()) as { error: { code: string; message: string } };
    return { status: res.status, code: body.error.code, message: body.error.message.replace(entity, '<name>') };
  };
  const privateOne = await answer('booking');
  const missing = await answer('no_such_table');
  expect(privateOne).toEqual(missing);
  expect(privateOne.status).toBe(400);
  // 200 more such requests cost no query. A few background queries still land meanwhile (in wal mode
  // reading /metrics asks for the slot's lag, and the capturer keeps its slot); one per request would be 200.
  const before = await metric(server, 'pgfeed_db_queries_total');
  for (let i = 0; i < 200; i++) await answer(`unknown_${i}`);
  expect((await metric(server, 'pgfeed_db_queries_total')) - before).toBeLessThan(20);
});

test('tokens that live longer than MAX_TOKEN_TTL, or were issued in the future, are refused', async () => {
  const server = await service({ MAX_TOKEN_TTL: '1h' });
  const key = new TextEncoder().encode(TEST_JWT_SECRET);
  const now = Math.floor(Date.now() / 1000);
  const token = (iat: number | undefined, exp: number) => {
    const jwt = new SignJWT({ company: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice');
    if (iat !== undefined) jwt.setIssuedAt(iat);
    return jwt.setExpirationTime(exp).sign(key);
  };
  const status = async (t: string) =>
    (await fetch(`${server.url}/api/companies/acme/trips`, { headers: { Authorization: `Bearer ${t}` } })).status;
  expect(await status(await token(now, now + 3600))).toBe(200);
  expect(await status(await token(now, now + 3601 + 60))).toBe(401);
  expect(await status(await token(undefined, now + 2 * 3600))).toBe(401);
  expect(await status(await token(now + 600, now + 1200))).toBe(401);
});

test('OPS_PORT moves /readyz and /metrics off the public port', async () => {
  const server = await service({ OPS_PORT: 0 });
  expect(server.opsUrl).toBeDefined();
  expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  expect((await fetch(`${server.url}/readyz`)).status).toBe(404);
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${server.opsUrl}/readyz`)).status).toBe(200);
  expect(await (await fetch(`${server.opsUrl}/metrics`)).text()).toMatch(/^pgfeed_connections /m);
});

test('the anonymous public page is rate-limited like the streams', async () => {
  const server = await service({ RATE_LIMIT_PER_MINUTE: 2 });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await fetch(`${server.url}/public/acme`)).status);
  expect(statuses).toEqual([200, 200, 429]);
});
