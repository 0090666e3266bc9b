/**
 * Markup keyed by row ids: a row's element id can never be another row's or a
 * list's, whatever the key — so an update replaces only its own row.
 */
import type { Pgfeed } from '../../src/service';
import { listDomId, rowDomId } from '../../src/streams/html';
import type { TestDatabase } from '../support/db';
import { caughtUp, closeService, serviceOnFreshDatabase, tokenFor } from '../support/service';
import { openLiveStream } from '../support/stream';

let db: TestDatabase;
let server: Pgfeed;
beforeAll(async () => ({ db, server } = await serviceOnFreshDatabase()));
afterAll(() => closeService(server, db));

test('row element ids cannot collide with each other or with a list', () => {
  const keys = ['rows', 'a.', 'a_2e', 'a-b', 'a b', 'ä', '', 'list-trip', 'trip'];
  const ids = keys.map((k) => rowDomId('trip', k));
  expect(new Set(ids).size).toBe(keys.length);
  for (const entity of ['trip', 'stock', 'booking']) expect(ids).not.toContain(listDomId(entity));
  for (const id of ids) expect(id).toMatch(/^[A-Za-z][\w-]*$/);
});

test("a trip whose id is a list's name updates its own row, not the list", async () => {
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('list-trip', 'acme', 'A-B', '2026-12-24T08:00:00Z', 10, 10)`;
  await caughtUp(server, db.sql);
  const s = await openLiveStream(`${server.url}/events/company/acme?format=html&entities=trip`, {
    token: await tokenFor(server, 'alice', 'acme', 'admin'),
  });
  await db.sql`update trips set available_slots = 9 where id = 'list-trip'`;
  const frame = await s.waitFor((f) => f.event === 'trip.updated');
  expect(frame.data).toContain(`id="${rowDomId('trip', 'list-trip')}"`);
  expect(frame.data).not.toContain(`id="${listDomId('trip')}"`);
  s.close();
});
