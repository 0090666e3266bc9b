import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;

beforeAll(async () => ({ db, server } = await serviceOnFreshDatabase()));
afterAll(() => closeService(server, db));

test('a row whose event exceeds the 8000-byte NOTIFY limit arrives whole, in order, live and on resume', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const s = await openStream(`${server.url}/events/company/acme`, { token });
  const ready = await s.waitFor((f) => f.event === 'ready');
  const route = 'Lisbon → Porto · '.repeat(2000); // ~36 KB of multi-byte text
  await db.sql.begin(async (tx) => {
    await tx`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
             values ('small-1', 'acme', 'S', '2026-12-24T08:00:00Z', 1, 1)`;
    await tx`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
             values ('big', 'acme', ${route}, '2026-12-24T08:00:00Z', 10, 10)`;
    await tx`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
             values ('small-2', 'acme', 'S', '2026-12-24T08:00:00Z', 1, 1)`;
  });
  await db.sql`update trips set available_slots = 9 where id = 'big'`;
  const updated = await s.waitFor((f) => f.json?.key === 'big' && f.json.op === 'update');
  expect(s.events().map((f) => f.json.key)).toEqual(['small-1', 'big', 'small-2', 'big']);
  const created = s.events()[1]!;
  expect(created.json.row.route).toBe(route);
  expect(Buffer.byteLength(created.data)).toBeGreaterThan(8000);
  expect(updated.json.row.route).toBe(route);
  expect(updated.json.changes).toMatchObject({ availableSlots: 9 });

  const resumed = await openStream(`${server.url}/events/company/acme`, { token, lastEventId: ready.json.lastEventId });
  await resumed.waitFor((f) => f.event === 'ready');
  expect(resumed.events().map((f) => f.data)).toEqual(s.events().map((f) => f.data));
  s.close();
  resumed.close();
});
