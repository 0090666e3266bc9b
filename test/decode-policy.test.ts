/**
 * A stored event whose row no longer fits its entity's schema (an operator
 * relaxed a column and a NULL was written) is skipped, counted and shown in
 * /readyz, in every path — live, catch-up after a reconnect, replay from the
 * log — and nothing wedges: the position moves on and every other stream
 * keeps receiving. Runs in both capture modes.
 */
import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { closeService, listenerState, metric, serviceOnFreshDatabase, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;

beforeAll(async () => {
  // A reconnect backoff long enough that the writes below land while the listener is away (the catch-up path),
  // and a replay ring of one event, so resumes read the log.
  ({ db, server } = await serviceOnFreshDatabase({
    config: { LISTENER_BACKOFF_MIN_MS: 1500, LISTENER_BACKOFF_MAX_MS: 3000, REPLAY_BUFFER_SIZE: 1 },
  }));
  await db.sql`alter table trips alter column route drop not null`;
});
afterAll(() => closeService(server, db));

const trip = (id: string, company: string, route: string | null) => db.sql`
  insert into trips (id, company_id, route, departs_at, capacity, available_slots)
  values (${id}, ${company}, ${route}, '2026-12-24T08:00:00Z', 10, 10)`;

const readyz = async () => {
  const r = await fetch(`${server.url}/readyz`);
  return { status: r.status, body: (await r.json()) as { skipped: { entity: string; reason: string; count: number }[] } };
};

test('a row that fails its schema, written while the listener reconnects, is skipped and counted; nothing wedges', async () => {
  const acme = await openLiveStream(`${server.url}/events/company/acme`, {
    token: await tokenFor(server, 'alice', 'acme', 'admin'),
  });
  const globex = await openLiveStream(`${server.url}/events/company/globex`, {
    token: await tokenFor(server, 'gina', 'globex', 'admin'),
  });
  const before = await metric(server, 'pgfeed_decode_errors_total', { entity: 'trip', reason: 'row_schema' });

  await db.sql`select pg_terminate_backend(pid) from pg_stat_activity
                where application_name = 'pgfeed-listener' and datname = current_database()`;
  await listenerState(server, 'connecting');
  await trip('no-route', 'acme', null); // trip.route is a string in the entity's schema
  await trip('after-acme', 'acme', 'A-B');
  await trip('after-globex', 'globex', 'G-H');
  await listenerState(server, 'live');

  await acme.waitFor((f) => f.json?.key === 'after-acme');
  await globex.waitFor((f) => f.json?.key === 'after-globex');
  expect(acme.events().map((f) => f.json.key)).toEqual(['after-acme']);

  // Live too: the NOTIFY path skips it the same way.
  await trip('no-route-live', 'acme', null);
  await trip('after-live', 'acme', 'C-D');
  await acme.waitFor((f) => f.json?.key === 'after-live');
  expect(acme.events().map((f) => f.json.key)).toEqual(['after-acme', 'after-live']);

  expect(await metric(server, 'pgfeed_decode_errors_total', { entity: 'trip', reason: 'row_schema' })).toBe(before + 2);
  await eventually(async () => (await readyz()).status === 200, { what: '/readyz 200' });
  expect((await readyz()).body.skipped).toEqual([expect.objectContaining({ entity: 'trip', reason: 'row_schema', count: 2 })]);
  acme.close();
  globex.close();
});

test('a resume across the bad event gets ready and the events around it, not a dropped connection', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const resumed = await openLiveStream(`${server.url}/events/company/acme`, { token, lastEventId: '0' });
  expect(resumed.ready.json.replayed).toBe(2);
  expect(resumed.events().map((f) => f.json.key)).toEqual(['after-acme', 'after-live']);
  // And it is live after it.
  await trip('after-resume', 'acme', 'E-F');
  await resumed.waitFor((f) => f.json?.key === 'after-resume');
  resumed.close();
});

test('a watched table loses its company column: writes still succeed, and their events are skipped as no_company', async () => {
  await db.sql`create table gadgets (id text primary key, company_id text, name text)`;
  await db.sql`select pgfeed.watch('public.gadgets')`;
  const acme = await openLiveStream(`${server.url}/events/company/acme`, {
    token: await tokenFor(server, 'alice', 'acme', 'admin'),
  });
  await db.sql`insert into gadgets values ('g-1', 'acme', 'a')`;
  await acme.waitFor((f) => f.json?.key === 'g-1');
  await db.sql`alter table gadgets drop column company_id`;
  await db.sql`insert into gadgets (id, name) values ('g-2', 'b')`; // the application's write is not refused
  await trip('after-drop', 'acme', 'X-Y');
  await acme.waitFor((f) => f.json?.key === 'after-drop');
  expect(acme.events().map((f) => f.json.key)).toEqual(['g-1', 'after-drop']);
  expect(await metric(server, 'pgfeed_decode_errors_total', { entity: 'gadgets', reason: 'no_company' })).toBe(1);
  acme.close();
});
