import { ConfigError, loadConfig, parseConfig } from '../src/config';
import { startPgfeed } from '../src/index';

test('defaults, and values from the environment as text', () => {
  const c = loadConfig({ PORT: '9000', EVENT_RETENTION: '15m', DEMO: 'true', UNRELATED: 'x' });
  expect(c).toMatchObject({ PORT: 9000, EVENT_RETENTION: 900_000, DEMO: true, REPLAY_BUFFER_SIZE: 10000, HEARTBEAT_MS: 15000 });
  expect(c.LISTEN_BACKLOG).toBe(4096);
  expect(loadConfig({ LISTEN_BACKLOG: '16384' }).LISTEN_BACKLOG).toBe(16384);
});

test.each([
  [{ REPLAY_BUFFER_SIZE: 0 }, /^invalid configuration: REPLAY_BUFFER_SIZE must be at least 1 \(got 0\)$/],
  [{ REPLAY_BUFFER_SIZE: '0' }, /^invalid configuration: REPLAY_BUFFER_SIZE must be at least 1/],
  [{ PORT: 1.5 }, /^invalid configuration: PORT must be a whole number/],
  [{ EVENT_RETENTION: 'forever' }, /^invalid configuration: EVENT_RETENTION must be a duration/],
  [{ LOG_LEVEL: 'loud' }, /^invalid configuration: LOG_LEVEL/],
  [{ JWT_SECRET: 'short' }, /^invalid configuration: JWT_SECRET must be at least 32 characters \(HS256 key\)$/],
  [{ HEARTBEAT_MS: 10 }, /^invalid configuration: HEARTBEAT_MS must be at least 100/],
  [{ LISTEN_BACKLOG: 0 }, /^invalid configuration: LISTEN_BACKLOG must be at least 1 \(got 0\)$/],
  [{ LISTEN_BACKLOG: 'lots' }, /^invalid configuration: LISTEN_BACKLOG must be a whole number/],
  [{ NOT_A_SETTING: 1 }, /^invalid configuration: unknown setting NOT_A_SETTING$/],
])('programmatic and environment values are checked by one schema: %j', (input, message) => {
  expect(() => parseConfig(input)).toThrow(ConfigError);
  expect(() => parseConfig(input)).toThrow(message);
});

test('startPgfeed refuses a bad setting before it touches the database', async () => {
  // Nothing listens on port 1: a connection attempt would fail differently.
  const start = startPgfeed({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none', config: { REPLAY_BUFFER_SIZE: 0 } });
  await expect(start).rejects.toThrow(ConfigError);
  await expect(start).rejects.toThrow('REPLAY_BUFFER_SIZE must be at least 1');
});

test('JWKS_URL over plain http is refused unless it is this machine; identity-provider settings are read', () => {
  expect(() => loadConfig({ JWKS_URL: 'http://sso.example.com/realms/shop/protocol/openid-connect/certs' })).toThrow(
    /^invalid configuration: JWKS_URL must be an https:\/\/ URL \(plain http only on localhost \/ 127\.0\.0\.1 \/ \[::1\]\)/,
  );
  for (const url of [
    'https://sso.example.com/certs',
    'http://127.0.0.1:8081/jwks',
    'http://localhost/jwks',
    'http://[::1]:9/j',
  ]) {
    expect(loadConfig({ JWKS_URL: url }).JWKS_URL).toBe(url);
  }
  expect(loadConfig({})).toMatchObject({
    JWT_TENANT_CLAIM: 'company',
    JWT_ROLES_CLAIM: 'role',
    COMPANY_STREAM_ROLES: ['admin', 'cashier'],
  });
  expect(loadConfig({ COMPANY_STREAM_ROLES: ' dispatcher , shop-admin ' }).COMPANY_STREAM_ROLES).toEqual([
    'dispatcher',
    'shop-admin',
  ]);
  expect(() => loadConfig({ COMPANY_STREAM_ROLES: 'admin,,cashier' })).toThrow(/^invalid configuration: COMPANY_STREAM_ROLES/);
});

test('startPgfeed without JWT_SECRET or JWKS_URL says so instead of making up a key that refuses every token', async () => {
  const start = startPgfeed({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none', config: {} });
  await expect(start).rejects.toThrow(ConfigError);
  await expect(start).rejects.toThrow('invalid configuration: JWT_SECRET (or JWKS_URL) is required');
});
