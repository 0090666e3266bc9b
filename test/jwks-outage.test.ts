/**
 * The identity provider hiccups: a token whose key pgfeed cannot look up
 * because the key set answers 503, hangs, refuses connections or never stops
 * sending is `503 not_ready` with Retry-After — the client retries, its user
 * stays signed in — never 401. The key set is read within JWKS_TIMEOUT_MS and
 * JWKS_MAX_BYTES, and keys already known keep working through the outage.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { type IdentityProvider, type SigningKey, newKey, signedBy, startIdentityProvider } from './support/idp';
import { closeService, serviceOnFreshDatabase, startService } from './support/service';

const TIMEOUT_MS = 400;
let idp: IdentityProvider;
let known: SigningKey;
let db: TestDatabase;
let server: Pgfeed;

beforeAll(async () => {
  known = await newKey('known');
  idp = await startIdentityProvider([known]);
  ({ db, server } = await serviceOnFreshDatabase({
    config: { JWKS_URL: idp.url, JWKS_COOLDOWN_MS: 0, JWKS_TIMEOUT_MS: TIMEOUT_MS, JWKS_MAX_BYTES: 64 * 1024 },
  }));
});
afterAll(async () => {
  await closeService(server, db);
  await idp?.close();
});
beforeEach(async () => {
  // Each test starts with a provider that answers and a key set pgfeed has just read (a key it did not know).
  idp.mode = 'ok';
  const fresh = await newKey(`fresh-${expect.getState().currentTestName}`);
  idp.published = [known, fresh];
  await eventually(async () => (await snapshot(server, await tokenOf(fresh))).status === 200, { what: 'the provider back' });
});

const tokenOf = (key: SigningKey) =>
  signedBy(key, { sub: 'alice', company: 'acme', role: 'admin', iat: Math.floor(Date.now() / 1000) });

async function snapshot(target: Pgfeed, token: string) {
  const started = Date.now();
  const res = await fetch(`${target.url}/api/companies/acme/trips`, { headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), error: body.error, ms: Date.now() - started };
}

test.each([
  ['answers 503', 'unavailable', /HTTP 503/],
  ['hangs', 'hang', /no answer in time/],
  ['sends an endless key set', 'endless', /longer than JWKS_MAX_BYTES/],
] as const)('a new kid while the key set %s: 503 not_ready with Retry-After, never 401', async (_name, mode, reason) => {
  const rotated = await newKey(`rotated-${mode}`);
  idp.published = [known, rotated]; // the provider rotated, but cannot tell anyone
  idp.mode = mode;
  const res = await snapshot(server, await tokenOf(rotated));
  expect(res.status).toBe(503);
  expect(res.error?.code).toBe('not_ready');
  expect(res.error?.message).toMatch(reason);
  expect(Number(res.retryAfter)).toBeGreaterThan(0);
  expect(res.ms).toBeLessThan(TIMEOUT_MS + 5000); // bounded by JWKS_TIMEOUT_MS, not by the provider
  if (mode === 'endless') {
    await idp.endlessClosed; // pgfeed hung up early: a 400 MB answer is never read whole
    expect(idp.endlessBytes).toBeLessThan(32 * 1024 * 1024);
  }
  // Keys already known keep working through the outage.
  expect((await snapshot(server, await tokenOf(known))).status).toBe(200);
  // Once the provider answers again, the new key is read and accepted.
  idp.mode = 'ok';
  await eventually(async () => (await snapshot(server, await tokenOf(rotated))).status === 200, { what: 'the rotated key' });
});

test('a key set that declares more than JWKS_MAX_BYTES is refused without reading it', async () => {
  const big = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(400 * 1024 * 1024) });
    res.write('{"keys": [');
  });
  await new Promise<void>((resolve) => big.listen(0, '127.0.0.1', resolve));
  const other = await startService(db.url, {
    JWKS_URL: `http://127.0.0.1:${(big.address() as AddressInfo).port}/jwks`,
    JWKS_MAX_BYTES: 64 * 1024,
  });
  try {
    const res = await snapshot(other, await tokenOf(known));
    expect(res).toMatchObject({ status: 503, error: { code: 'not_ready' } });
    expect(res.error?.message).toMatch(/more than JWKS_MAX_BYTES/);
  } finally {
    await other.close();
    big.closeAllConnections();
    await new Promise((resolve) => big.close(resolve));
  }
});

test('a key set whose address refuses connections: 503, and a key the provider does not list is still 401', async () => {
  // A port that was free a moment ago: nothing listens there.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const other = await startService(db.url, { JWKS_URL: `http://127.0.0.1:${port}/jwks`, JWKS_TIMEOUT_MS: TIMEOUT_MS });
  try {
    const res = await snapshot(other, await tokenOf(known));
    expect(res).toMatchObject({ status: 503, error: { code: 'not_ready' } });
    expect(res.error?.message).toMatch(/not reachable/);
  } finally {
    await other.close();
  }
  // Where the provider answers and does not list the key, the token is bad: 401.
  const res = await snapshot(server, await tokenOf(await newKey('stranger')));
  expect(res).toMatchObject({ status: 401, error: { code: 'unauthorized' } });
});
