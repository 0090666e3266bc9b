/**
 * The access log of a stream: a line when it opens (a stream may stay open
 * for hours, and its `request` line comes only when it closes), and the
 * `request` line when it closes, both carrying the id the client was given
 * and never the token.
 */
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { seedTwoCompanies } from './support/fixtures';
import { capturingLogs, startService, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;
const logs = capturingLogs('info');

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  server = await startService(db.url, {}, logs.options);
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

function linesOf(requestId: string): Array<Record<string, unknown>> {
  return logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.requestId === requestId);
}

test('a stream is logged when it opens and again when it closes, with its request id and without its token', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const stream = await openLiveStream(`${server.url}/events/company/acme?access_token=${token}&entities=trip`, {
    headers: { 'X-Request-Id': 'open-close-1' },
  });
  expect(stream.headers.get('x-request-id')).toBe('open-close-1');

  // Open and ready: the opening line is there while the stream still is.
  const find = (id: string, msg: string) => linesOf(id).find((l) => l.msg === msg);
  await eventually(() => find('open-close-1', 'stream opened') !== undefined, { what: 'a "stream opened" line' });
  const opened = find('open-close-1', 'stream opened')!;
  expect(opened).toMatchObject({ method: 'GET', path: '/events/company/acme', status: 200 });
  expect(linesOf('open-close-1').some((l) => l.msg === 'request')).toBe(false);

  stream.close();
  await eventually(() => find('open-close-1', 'request') !== undefined, { what: 'a "request" line' });
  const closed = find('open-close-1', 'request')!;
  expect(closed).toMatchObject({ method: 'GET', path: '/events/company/acme', status: 200 });
  expect(typeof closed.ms).toBe('number');
  expect(JSON.stringify(linesOf('open-close-1'))).not.toContain(token);
});

test('a refused stream gets one request line, no opening line', async () => {
  const res = await fetch(`${server.url}/events/company/acme`, { headers: { 'X-Request-Id': 'refused-1' } });
  expect(res.status).toBe(401);
  await res.text();
  const requestLine = () => linesOf('refused-1').find((l) => l.msg === 'request');
  await eventually(() => requestLine() !== undefined, { what: 'a "request" line' });
  const line = requestLine()!;
  expect(line).toMatchObject({ status: 401, path: '/events/company/acme' });
  expect(linesOf('refused-1').some((l) => l.msg === 'stream opened')).toBe(false);
});

test("what the error handler logs for a request carries that request's id (res.locals.log)", async () => {
  // A path that is not valid percent-encoded UTF-8: the router fails, the error handler warns through res.locals.log.
  const res = await fetch(`${server.url}/events/company/%E0%A4%A`, { headers: { 'X-Request-Id': 'malformed-1' } });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_params');
  const warning = () => linesOf('malformed-1').find((l) => l.msg === 'malformed request');
  await eventually(() => warning() !== undefined, { what: 'a "malformed request" line with the request id' });
  expect(warning()).toMatchObject({ path: '/events/company/%E0%A4%A' });
});
