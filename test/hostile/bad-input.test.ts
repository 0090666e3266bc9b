/**
 * Bad input is the client's mistake: a 400 (or `reset: malformed` on a
 * stream) with a stable code, logged at warn — never a 500, never an error
 * line, and nothing changes.
 */
import type { Pgfeed } from '../../src/service';
import type { TestDatabase } from '../support/db';
import { freshDatabase } from '../support/db';
import { seedTwoCompanies } from '../support/fixtures';
import { capturingLogs, startService, tokenFor } from '../support/service';
import { openLiveStream } from '../support/stream';

let db: TestDatabase;
let server: Pgfeed;
let admin: string;
const logs = capturingLogs('info');
const logLines = logs.lines;

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values ('big', 'acme', 'BIG', 'Big', 2147483000)`;
  server = await startService(db.url, {}, logs.options);
  admin = await tokenFor(server, 'alice', 'acme', 'admin');
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
}

test.each([
  ['NUL in a path id', 'POST', '/api/bookings/a%00b/cancel', undefined, 'invalid_params'],
  ['NUL in a company id', 'GET', '/api/companies/acme%00/trips', undefined, 'invalid_params'],
  ['malformed UTF-8 in a path', 'GET', '/api/companies/%C3%28/trips', undefined, 'invalid_params'],
  ['malformed UTF-8 in a stream path', 'GET', '/events/public/%C3%28', undefined, 'invalid_params'],
  ['an encoded UTF-16 surrogate in a path', 'POST', '/api/stock/%ED%A0%80/adjust', { delta: 1 }, 'invalid_params'],
  ['NUL in a body id', 'POST', '/api/checkouts', { itemId: 'big\u0000', userId: 'cora' }, 'invalid_body'],
  [
    'a due date in year 0',
    'POST',
    '/api/checkouts',
    { itemId: 'big', userId: 'cora', dueAt: '0000-01-01T00:00:00Z' },
    'invalid_body',
  ],
  ['NUL in an entity list', 'GET', '/events/company/acme?entities=trip,%00', undefined, 'invalid_query'],
])('%s is a 400 with a stable code', async (_what, method, path, body, code) => {
  const r = await call(method, path, body);
  expect(r.status).toBe(400);
  expect(r.body.error?.code).toBe(code);
});

test('stock pushed past the int range is a 409 and the row is unchanged', async () => {
  const r = await call('POST', '/api/stock/big/adjust', { delta: 1_000_000 });
  expect(r.status).toBe(409);
  expect(r.body.error?.code).toBe('conflict');
  const [row] = await db.sql`select quantity from stock_items where id = 'big'`;
  expect(row?.quantity).toBe(2147483000);
});

test.each([
  ['one past bigint', '9223372036854775808'],
  ['twenty digits', '99999999999999999999'],
  ['negative', '-1'],
  ['not a number', 'abc'],
])('Last-Event-ID %s: reset malformed, then live (no reconnect loop)', async (_what, id) => {
  for (const opts of [{ lastEventId: id }, { headers: {} as Record<string, string> }]) {
    const url = `${server.url}/events/company/acme${'headers' in opts ? `?lastEventId=${encodeURIComponent(id)}` : ''}`;
    const s = await openLiveStream(url, { token: admin, ...opts });
    expect(s.frames.map((f) => f.event)).toEqual(['reset', 'ready']);
    expect(s.frames[0]?.json).toMatchObject({ reason: 'malformed' });
    s.close();
  }
});

test('none of it was logged as an error', () => {
  const levels = logLines.map((l) => JSON.parse(l).level as string);
  expect(levels).not.toContain('error');
  expect(levels).toContain('warn');
});
