/**
 * Other origins and proxies: browser apps on CORS_ORIGINS may open streams and
 * call the API, others may not; behind a proxy (TRUST_PROXY) rate limits and
 * logs see the client's address from X-Forwarded-For.
 */
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies } from './support/fixtures';
import { capturingLogs, startService, tokenFor } from './support/service';
import { openStream } from './support/stream';

const APP = 'https://app.example.test';
let db: TestDatabase;
let server: Pgfeed;
let plain: Pgfeed;
const logs = capturingLogs('info');
const logLines = logs.lines;

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  server = await startService(
    db.url,
    { CORS_ORIGINS: `${APP}, http://localhost:5173`, TRUST_PROXY: 'loopback', RATE_LIMIT_PER_MINUTE: 2 },
    logs.options,
  );
  plain = await startService(db.url, { RATE_LIMIT_PER_MINUTE: 2 });
});
afterAll(async () => {
  await server?.close();
  await plain?.close();
  await db?.drop();
});

describe('CORS_ORIGINS', () => {
  test('an allowed origin gets the stream with the headers a browser needs to read it', async () => {
    const token = await tokenFor(server, 'alice', 'acme', 'admin');
    const stream = await openStream(`${server.url}/events/company/acme`, {
      token,
      headers: { Origin: APP, 'X-Forwarded-For': '10.1.0.1' },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('access-control-allow-origin')).toBe(APP);
    expect(stream.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    await stream.waitFor((f) => f.event === 'ready');
    stream.close();
  });

  test('an allowed origin may send the token and Last-Event-ID as headers (preflight)', async () => {
    const res = await fetch(`${server.url}/events/company/acme`, {
      method: 'OPTIONS',
      headers: {
        Origin: APP,
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization,last-event-id',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('last-event-id'));
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('authorization'));
  });

  test('the API answers an allowed origin too', async () => {
    const token = await tokenFor(server, 'alice', 'acme', 'admin');
    const res = await fetch(`${server.url}/api/companies/acme/trips`, {
      headers: { Origin: APP, Authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
  });

  test('another origin gets no CORS headers, so its browser does not hand it the stream', async () => {
    const stream = await openStream(`${server.url}/events/public/acme`, {
      headers: { Origin: 'https://evil.example.test', 'X-Forwarded-For': '10.1.0.2' },
    });
    expect(stream.headers.get('access-control-allow-origin')).toBeNull();
    stream.close();
    const preflight = await fetch(`${server.url}/events/company/acme`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://evil.example.test',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('without CORS_ORIGINS no origin is allowed', async () => {
    const res = await fetch(`${plain.url}/healthz`, { headers: { Origin: APP } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('TRUST_PROXY', () => {
  const attempt = (target: Pgfeed, client: string) =>
    fetch(`${target.url}/events/public/acme?format=xml`, { headers: { 'X-Forwarded-For': client } }).then((r) => r.status);

  test('behind a trusted proxy each client has its own rate-limit bucket, and logs carry its address', async () => {
    expect([await attempt(server, '203.0.113.7'), await attempt(server, '203.0.113.7')]).toEqual([400, 400]);
    expect(await attempt(server, '203.0.113.7')).toBe(429);
    expect(await attempt(server, '203.0.113.8')).toBe(400); // another client, another bucket
    expect(logLines.some((l) => JSON.parse(l).ip === '203.0.113.8')).toBe(true);
  });

  test('without it, X-Forwarded-For is ignored: one address, one bucket', async () => {
    expect([await attempt(plain, '203.0.113.7'), await attempt(plain, '203.0.113.7')]).toEqual([400, 400]);
    expect(await attempt(plain, '203.0.113.8')).toBe(429);
  });
});
