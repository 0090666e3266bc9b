/**
 * Tokens from an identity provider: RS256/ES256 verified against its JSON Web
 * Key Set (served here by the test), `iss` and `aud` checked, keys rotated
 * without a restart — beside the HS256 tokens signed with JWT_SECRET.
 */
import type { Pgfeed } from '../src/service';
import { type IdentityProvider, type SigningKey, newKey, signedBy, startIdentityProvider } from './support/idp';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import type { TestDatabase } from './support/db';
import { openStream } from './support/stream';

const ISSUER = 'https://id.example.test/';
const AUDIENCE = 'pgfeed';

function signWith(
  key: SigningKey,
  claims: Record<string, unknown> = {},
  opts: { iss?: string; aud?: string } = {},
): Promise<string> {
  return signedBy(key, {
    company: 'acme',
    role: 'admin',
    sub: 'alice',
    iss: opts.iss ?? ISSUER,
    aud: opts.aud ?? AUDIENCE,
    ...claims,
  });
}

/** The identity provider's key set, served over HTTP; `published` is what it lists now, `fetches` how often it was read. */
let idp: IdentityProvider;
let db: TestDatabase;
let server: Pgfeed;
let rsa: SigningKey;
let ec: SigningKey;

beforeAll(async () => {
  rsa = await newKey('rsa-1', 'RS256');
  ec = await newKey('ec-1', 'ES256');
  idp = await startIdentityProvider([rsa, ec]);
  ({ db, server } = await serviceOnFreshDatabase({
    config: { JWKS_URL: idp.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWKS_COOLDOWN_MS: 0 },
  }));
});
afterAll(async () => {
  await closeService(server, db);
  await idp?.close();
});

async function status(token: string): Promise<{ status: number; message: string | undefined }> {
  const res = await fetch(`${server.url}/api/companies/acme/trips`, { headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { error?: { message: string } };
  return { status: res.status, message: body.error?.message };
}

test.each([
  ['RS256', () => rsa],
  ['ES256', () => ec],
])('a %s token from the identity provider opens a stream', async (_alg, key) => {
  const stream = await openStream(`${server.url}/events/company/acme`, { token: await signWith(key()) });
  expect(stream.status).toBe(200);
  await stream.waitFor((f) => f.event === 'ready');
  stream.close();
});

test('HS256 tokens signed with JWT_SECRET still work beside it (with the same iss and aud)', async () => {
  expect((await status(await tokenFor(server, 'alice', 'acme', 'admin'))).status).toBe(200);
});

test.each([
  ['another issuer', () => signWith(rsa, {}, { iss: 'https://evil.example.test/' }), "the token's iss claim is not accepted"],
  ['another audience', () => signWith(rsa, {}, { aud: 'someone-else' }), "the token's aud claim is not accepted"],
  ['a key the provider does not list', async () => signWith(await newKey('stranger', 'ES256')), 'does not list'],
  ['no company claim', () => signWith(rsa, { company: undefined }), 'the token lacks the tenant claim "company"'],
])('401 for %s', async (_name, token, message) => {
  const res = await status(await token());
  expect(res.status).toBe(401);
  expect(res.message).toContain(message);
});

test('keys rotate without a restart: a new kid is fetched, a withdrawn key stops working', async () => {
  expect((await status(await signWith(rsa))).status).toBe(200);
  const next = await newKey('rsa-2', 'RS256');
  idp.published = [next, ec]; // the provider rotates: rsa-1 withdrawn, rsa-2 published
  const before = idp.fetches;
  expect((await status(await signWith(next))).status).toBe(200);
  expect(idp.fetches).toBe(before + 1); // the unknown kid made pgfeed read the set again
  const old = await status(await signWith(rsa));
  expect(old.status).toBe(401);
  expect(old.message).toContain('does not list');
});
