import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { startService, tokenFor, metric } from './support/service';
import { openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;

beforeAll(async () => {
  db = await freshDatabase();
  await db.sql`insert into companies (id, name) values ('acme', 'Acme'), ('globex', 'Globex')`;
  server = await startService(db.url);
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

test('a trip update made with plain SQL reaches the company stream', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const stream = await openStream(`${server.url}/events/company/acme`, { token });
  expect(stream.status).toBe(200);
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
  await stream.waitFor((f) => f.event === 'ready');
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('t1', 'acme', 'A-B', '2026-12-01T10:00:00Z', 10, 10)`;
  await db.sql`update trips set available_slots = 9 where id = 't1'`;
  const updated = await stream.waitFor((f) => f.event === 'trip.updated');
  expect(updated.json).toMatchObject({
    type: 'trip.updated',
    entity: 'trip',
    op: 'update',
    companyId: 'acme',
    userId: null,
    key: 't1',
    row: { id: 't1', availableSlots: 9, capacity: 10, bookingHalted: false },
  });
  expect(updated.json.changes).toEqual({ availableSlots: 9, updatedAt: updated.json.row.updatedAt });
  expect(updated.id).toBe(updated.json.id);
  stream.close();
});

test('a notification that cannot be decoded is logged and counted, and the stream goes on', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const stream = await openStream(`${server.url}/events/company/acme`, { token });
  await stream.waitFor((f) => f.event === 'ready');
  const before = await metric(server, 'pgfeed_decode_errors_total');
  await db.sql`select pg_notify('pgfeed', 'not json')`;
  await db.sql`select pg_notify('pgfeed', '{"id": "x"}')`;
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('after-garbage', 'acme', 'A-B', '2026-12-01T10:00:00Z', 10, 10)`;
  await stream.waitFor((f) => f.json?.key === 'after-garbage');
  expect(await metric(server, 'pgfeed_decode_errors_total')).toBe(before + 2);
  expect(server.status().ready).toBe(true);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toMatch(/^pgfeed_decode_errors_total\{entity="unknown",reason="malformed"\} 2$/m);
  // prom-client's process and Node series sit beside pgfeed's: what a fan-out server is judged by.
  for (const series of [
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_seconds',
    'nodejs_heap_size_used_bytes',
  ]) {
    expect(metrics).toMatch(new RegExp(`^${series} \\d`, 'm'));
  }
  stream.close();
});
