import express from 'express';
import request from 'supertest';
import { setSessionCookie } from '../src/domain/pages/session';
import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';

// A sister site (another port or subdomain of the same site) gets the SameSite=Lax cookie sent with a form
// POST; the cookie must not let it write, nor a link swap the session without asking.
let db: TestDatabase;
let server: Pgfeed;
let cookie: string;

beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase({
    seed: async (sql) => {
      await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                values ('t1', 'acme', 'A-B', '2026-12-24T08:00:00Z', 10, 6)`;
      await sql`insert into bookings (id, trip_id, company_id, seats, channel) values
                ('b1', 't1', 'acme', 2, 'cashier'), ('b2', 't1', 'acme', 2, 'cashier')`;
    },
  }));
  cookie = `pgfeed_token=${await tokenFor(server, 'carl', 'acme', 'cashier')}`;
});
afterAll(() => closeService(server, db));

const SISTER = 'http://localhost:18901';
const status = async (id: string) =>
  (await db.sql<{ status: string }[]>`select status from bookings where id = ${id}`)[0]?.status;

function post(path: string, headers: Record<string, string>, body = '') {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body,
    redirect: 'manual',
  });
}

describe('a write that rides the session cookie', () => {
  test.each([
    ['a form on a sister site (Origin and Sec-Fetch-Site: same-site)', { Origin: SISTER, 'Sec-Fetch-Site': 'same-site' }],
    ['a browser that sends only Origin', { Origin: SISTER }],
    ['a browser that sends only Sec-Fetch-Site', { 'Sec-Fetch-Site': 'cross-site' }],
    ['an opaque origin (sandboxed frame, data: URL)', { Origin: 'null' }],
  ])('from %s is refused with 403 cross_origin and changes nothing', async (_name, headers) => {
    const res = await post('/api/bookings/b1/cancel', { Cookie: cookie, ...headers });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'cross_origin' } });
    expect(await status('b1')).toBe('confirmed');
  });

  test('from the service’s own pages is done', async () => {
    const res = await post('/api/bookings/b1/cancel', { Cookie: cookie, Origin: server.url, 'Sec-Fetch-Site': 'same-origin' });
    expect(res.status).toBe(200);
    expect(await status('b1')).toBe('cancelled');
  });

  test('JSON writes are checked the same way', async () => {
    const res = await fetch(`${server.url}/api/trips/t1/bookings`, {
      method: 'POST',
      headers: { Cookie: cookie, Origin: SISTER, 'Content-Type': 'application/json' },
      body: JSON.stringify({ seats: 1, channel: 'cashier' }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'cross_origin' } });
  });

  test('a Bearer token (no ambient credential) and a client that is no browser (no Origin) still write', async () => {
    const bearer = await tokenFor(server, 'carl', 'acme', 'cashier');
    const res = await post('/api/bookings/b2/cancel', { Authorization: `Bearer ${bearer}`, Origin: SISTER });
    expect(res.status).toBe(200);
    const curl = await fetch(`${server.url}/api/trips/t1/bookings`, {
      method: 'POST',
      headers: { Cookie: cookie, 'Content-Type': 'application/json' },
      body: JSON.stringify({ seats: 1, channel: 'cashier' }),
    });
    expect(curl.status).toBe(201);
  });
});

describe('a link with another token', () => {
  test('asks before switching the session, and switches only from this service’s own form', async () => {
    const other = await tokenFor(server, 'alice', 'acme', 'admin');
    const res = await fetch(`${server.url}/dashboard?access_token=${other}&x=1`, {
      headers: { Cookie: cookie },
      redirect: 'manual',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toBeNull(); // nothing switched yet
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await res.text();
    expect(page).toContain('Switch user?');
    expect(page).toContain('signed in as <strong>carl (cashier at acme)</strong>');
    expect(page).toContain('signs in as <strong>alice (admin at acme)</strong>');
    expect(page).toContain('<form method="post" action="/session"');
    expect(page).toContain('href="/dashboard?x=1"'); // "stay": the same page, without the token

    const form = new URLSearchParams({ access_token: other, next: '/dashboard?x=1' }).toString();
    const forged = await post('/session', { Cookie: cookie, Origin: SISTER, 'Sec-Fetch-Site': 'same-site' }, form);
    expect(forged.status).toBe(403);
    expect(forged.headers.get('set-cookie')).toBeNull();

    const confirmed = await post('/session', { Cookie: cookie, Origin: server.url, 'Sec-Fetch-Site': 'same-origin' }, form);
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.get('location')).toBe('/dashboard?x=1');
    expect(confirmed.headers.get('set-cookie')).toContain(`pgfeed_token=${other};`);
  });

  test('never sends the session elsewhere after switching', async () => {
    const other = await tokenFor(server, 'alice', 'acme', 'admin');
    for (const next of ['//evil.example/x', '/\\evil.example', 'https://evil.example/']) {
      const form = new URLSearchParams({ access_token: other, next }).toString();
      const res = await post('/session', { Cookie: cookie, Origin: server.url }, form);
      expect(res.headers.get('location')).toBe('/');
    }
  });

  test('for the same user, or with no session yet, signs in at once', async () => {
    const again = await tokenFor(server, 'carl', 'acme', 'cashier', 7200);
    const same = await fetch(`${server.url}/cashier?access_token=${again}`, { headers: { Cookie: cookie }, redirect: 'manual' });
    expect(same.status).toBe(303);
    expect(same.headers.get('set-cookie')).toContain(`pgfeed_token=${again};`);
    const fresh = await fetch(`${server.url}/cashier?access_token=${again}`, { redirect: 'manual' });
    expect(fresh.status).toBe(303);
  });
});

test('the session cookie is Secure when the page is served over HTTPS, and not over plain HTTP', async () => {
  const claims = { sub: 'carl', company: 'acme', role: 'cashier' as const, exp: Math.floor(Date.now() / 1000) + 60 };
  const app = express().set('trust proxy', true);
  app.get('/', (req, res) => {
    setSessionCookie(req, res, 'tok', claims);
    res.end();
  });
  const https = await request(app).get('/').set('X-Forwarded-Proto', 'https');
  expect(String(https.headers['set-cookie'])).toMatch(/; Secure/);
  const plain = await request(app).get('/');
  expect(String(plain.headers['set-cookie'])).not.toMatch(/Secure/);
  expect(String(plain.headers['set-cookie'])).toMatch(/HttpOnly.*SameSite=Lax|SameSite=Lax.*HttpOnly/);
});
