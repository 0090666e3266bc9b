/**
 * Tokens from your own identity provider: settings say where the tenant and the
 * roles are (JWT_TENANT_CLAIM, JWT_ROLES_CLAIM), which roles read a company's
 * stream (COMPANY_STREAM_ROLES), and `iss`/`aud` are checked for every algorithm;
 * in the library, `authorize` decides. The tokens here are shaped like
 * Keycloak's and Auth0's, signed RS256 with keys served by a local JWKS.
 */
import { SignJWT } from 'jose';
import type { ConfigInput } from '../src/config';
import { domain } from '../src/domain';
import { claimPath, readClaim } from '../src/http/claims';
import type { PgfeedOptions, Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies } from './support/fixtures';
import { type IdentityProvider, type SigningKey, newKey, signedBy, startIdentityProvider } from './support/idp';
import { TEST_JWT_SECRET, startService } from './support/service';
import { openLiveStream } from './support/stream';

let db: TestDatabase;
let idp: IdentityProvider;
let keycloakKey: SigningKey;
let auth0Key: SigningKey;
const running: Pgfeed[] = [];

beforeAll(async () => {
  keycloakKey = await newKey('keycloak-rsa');
  auth0Key = await newKey('auth0-rsa');
  idp = await startIdentityProvider([keycloakKey, auth0Key]);
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
  await idp?.close();
  await db?.drop();
});

/** pgfeed's core alone (the demo's tables streamed, none of its routes or roles), with `config`. */
async function core(config: ConfigInput, options: Pick<PgfeedOptions, 'authorize'> = {}): Promise<Pgfeed> {
  const server = await startService(
    db.url,
    { JWKS_URL: idp.url, JWKS_COOLDOWN_MS: 0, ...config },
    {
      entities: domain.entities,
      ...options,
    },
  );
  running.push(server);
  return server;
}

async function answer(server: Pgfeed, path: string, token: string): Promise<{ status: number; message?: string }> {
  const res = await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } });
  if (res.status === 200) {
    await res.body?.cancel();
    return { status: 200 };
  }
  const body = (await res.json()) as { error: { message: string } };
  return { status: res.status, message: body.error.message };
}

/** Writes a trip of `company` and waits for it on `stream`. */
async function tripArrives(stream: Awaited<ReturnType<typeof openLiveStream>>, company: string, id: string): Promise<void> {
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values (${id}, ${company}, 'A-B', '2026-12-24T08:00:00Z', 10, 10)`;
  const frame = await stream.waitFor((f) => f.json?.key === id, { timeoutMs: 20_000 });
  expect(frame.json).toMatchObject({ type: 'trip.created', companyId: company });
}

describe('Keycloak-shaped tokens: tenant in a custom claim, roles in realm_access.roles, iss the realm', () => {
  const realm = 'https://sso.example.test/realms/shop';
  let server: Pgfeed;
  beforeAll(async () => {
    server = await core({
      JWT_ISSUER: realm,
      JWT_AUDIENCE: 'pgfeed',
      JWT_TENANT_CLAIM: 'company_id',
      JWT_ROLES_CLAIM: 'realm_access.roles',
      COMPANY_STREAM_ROLES: 'shop-staff, shop-admin',
    });
  });
  const keycloak = (claims: Record<string, unknown> = {}, roles = ['default-roles-shop', 'offline_access', 'shop-staff']) =>
    signedBy(keycloakKey, {
      iss: realm,
      aud: 'pgfeed',
      sub: 'f3b8c0de-7a61-4c1e-9d2b-5e0a6c1f2b3a',
      typ: 'Bearer',
      azp: 'pgfeed-dashboard',
      preferred_username: 'carl',
      realm_access: { roles },
      resource_access: { account: { roles: ['manage-account'] } },
      company_id: 'acme',
      iat: Math.floor(Date.now() / 1000),
      ...claims,
    });

  test("a staff member reads their company's stream and gets its events", async () => {
    const stream = await openLiveStream(`${server.url}/events/company/acme`, { token: await keycloak() });
    await tripArrives(stream, 'acme', 'kc-trip-1');
    stream.close();
  });

  test("a user without a staff role is refused the company's stream (403) and keeps their own", async () => {
    const user = await keycloak({}, ['default-roles-shop', 'offline_access']);
    expect(await answer(server, '/events/company/acme', user)).toMatchObject({
      status: 403,
      message: "this token may not read this company's stream",
    });
    expect((await answer(server, '/events/user', user)).status).toBe(200);
  });

  test("staff of another tenant are refused acme's stream", async () => {
    expect(await answer(server, '/events/company/acme', await keycloak({ company_id: 'globex' }))).toMatchObject({
      status: 403,
      message: 'this token is not for that company',
    });
  });

  test.each([
    ['another realm', { iss: 'https://sso.example.test/realms/other' }, "the token's iss claim is not accepted"],
    ['another audience', { aud: 'account' }, "the token's aud claim is not accepted"],
    ['no tenant claim', { company_id: undefined }, 'the token lacks the tenant claim "company_id" (JWT_TENANT_CLAIM)'],
    ['roles that are not strings', { realm_access: { roles: [1, 2] } }, 'realm_access.roles'],
  ])('401 for %s', async (_name, claims, message) => {
    const res = await answer(server, '/events/user', await keycloak(claims));
    expect(res.status).toBe(401);
    expect(res.message).toContain(message);
  });

  test('HS256 tokens must carry the same iss and aud; signToken() puts the claims where the settings say', async () => {
    const bare = await new SignJWT({ company_id: 'acme', realm_access: { roles: ['shop-staff'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('carl')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    expect(await answer(server, '/events/company/acme', bare)).toMatchObject({
      status: 401,
      message: "the token's iss claim is not accepted",
    });
    const minted = await server.signToken({ sub: 'carl', company: 'acme', roles: ['shop-staff'] });
    expect((await answer(server, '/events/company/acme', minted)).status).toBe(200);
  });
});

describe('Auth0-shaped tokens: namespaced claims, an audience list, RS256 from the JWKS', () => {
  const ns = 'https://pgfeed.example.com';
  const issuer = 'https://shop.eu.auth0.com/';
  let server: Pgfeed;
  beforeAll(async () => {
    server = await core({
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: 'https://api.shop.example.com',
      JWT_TENANT_CLAIM: `${ns}/org_id`,
      JWT_ROLES_CLAIM: `${ns}/roles`,
      COMPANY_STREAM_ROLES: 'Dispatcher',
    });
  });
  const auth0 = (claims: Record<string, unknown> = {}) =>
    signedBy(auth0Key, {
      iss: issuer,
      sub: 'auth0|65f1c0ffee',
      aud: ['https://api.shop.example.com', 'https://shop.eu.auth0.com/userinfo'],
      iat: Math.floor(Date.now() / 1000),
      azp: 'Xy12AbC',
      scope: 'openid profile read:feed',
      [`${ns}/org_id`]: 'globex',
      [`${ns}/roles`]: ['Dispatcher'],
      ...claims,
    });

  test("a dispatcher reads their organisation's stream", async () => {
    const stream = await openLiveStream(`${server.url}/events/company/globex`, { token: await auth0() });
    await tripArrives(stream, 'globex', 'a0-trip-1');
    stream.close();
  });

  test('a single role as a string counts; other roles do not', async () => {
    expect((await answer(server, '/events/company/globex', await auth0({ [`${ns}/roles`]: 'Dispatcher' }))).status).toBe(200);
    expect((await answer(server, '/events/company/globex', await auth0({ [`${ns}/roles`]: ['Viewer'] }))).status).toBe(403);
  });

  test('an audience list without ours is refused', async () => {
    const res = await answer(server, '/events/user', await auth0({ aud: ['https://other.example.com'] }));
    expect(res).toMatchObject({ status: 401, message: "the token's aud claim is not accepted" });
  });

  test("the defaults (claims company and role) find nothing in Auth0's token: 401 naming the claim", async () => {
    const defaults = await core({ JWT_ISSUER: issuer, JWT_AUDIENCE: 'https://api.shop.example.com' });
    expect(await answer(defaults, '/events/user', await auth0())).toMatchObject({
      status: 401,
      message: 'the token lacks the tenant claim "company" (JWT_TENANT_CLAIM), or it is not a string',
    });
  });
});

test('the library decides with authorize(claims, scope); tenants never cross whatever it says', async () => {
  const seen: unknown[] = [];
  const server = await core(
    { JWT_TENANT_CLAIM: 'org', JWT_ROLES_CLAIM: 'perms' },
    {
      // A policy on a claim pgfeed does not read: the plan.
      authorize: (claims, scope) => {
        seen.push(scope);
        return scope.kind === 'user' || claims.payload.plan === 'pro';
      },
    },
  );
  const token = (plan: string, org = 'acme') => signedBy(auth0Key, { sub: 'u-1', org, perms: [], plan });
  const pro = await openLiveStream(`${server.url}/events/company/acme`, { token: await token('pro') });
  await tripArrives(pro, 'acme', 'authz-trip-1');
  pro.close();
  expect(await answer(server, '/events/company/acme', await token('free'))).toMatchObject({ status: 403 });
  expect((await answer(server, '/events/user', await token('free'))).status).toBe(200);
  expect(await answer(server, '/events/company/acme', await token('pro', 'globex'))).toMatchObject({
    status: 403,
    message: 'this token is not for that company',
  });
  expect(seen).toContainEqual({ kind: 'company', companyId: 'acme' });
  expect(seen).toContainEqual({ kind: 'user', companyId: 'acme', userId: 'u-1' });
  expect(seen).not.toContainEqual({ kind: 'company', companyId: 'globex' }); // refused before the policy is asked
});

test('claim names: namespaced names are one claim, others dotted paths', () => {
  expect(claimPath('https://example.com/org_id')).toEqual(['https://example.com/org_id']);
  expect(claimPath('realm_access.roles')).toEqual(['realm_access', 'roles']);
  const payload = { realm_access: { roles: ['a'] }, 'https://example.com/org_id': 'o', flat: 'x' };
  expect(readClaim(payload, 'realm_access.roles')).toEqual(['a']);
  expect(readClaim(payload, 'https://example.com/org_id')).toBe('o');
  expect(readClaim(payload, 'flat.deeper')).toBeUndefined();
  expect(readClaim(payload, 'constructor')).toBeUndefined();
});
