import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';

// frame=compact: an update carries `key` and `changes` without the whole `row`; everything else as usual.

let db: TestDatabase;
let server: Pgfeed;
let token: string;

beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase());
  token = await tokenFor(server, 'alice', 'acme', 'admin');
});
afterAll(() => closeService(server, db));

test('with frame=compact an update carries key and changes but no row; creates and deletes carry the row', async () => {
  const full = await openLiveStream(`${server.url}/events/company/acme?entities=trip`, { token });
  const compact = await openLiveStream(`${server.url}/events/company/acme?entities=trip&frame=compact`, { token });
  const publicCompact = await openLiveStream(`${server.url}/events/public/acme?entities=trip&frame=compact`);
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('c1', 'acme', 'Lisbon-Porto', '2026-12-24T08:00:00Z', 40, 40)`;
  await db.sql`update trips set available_slots = 39 where id = 'c1'`;
  await db.sql`delete from trips where id = 'c1'`;
  for (const s of [full, compact, publicCompact]) await s.waitFor((f) => f.event === 'trip.deleted');

  const [created, updated, deleted] = compact.events();
  expect(created!.json.row).toMatchObject({ id: 'c1', availableSlots: 40 });
  expect(updated!.json).toMatchObject({ type: 'trip.updated', op: 'update', key: 'c1', changes: { availableSlots: 39 } });
  expect(updated!.json).not.toHaveProperty('row');
  expect(deleted!.json.row).toMatchObject({ id: 'c1' });
  // The same event, the same id and fields, but for the row.
  const fullUpdate = full.events()[1]!;
  const { row, ...rest } = fullUpdate.json;
  expect(row).toMatchObject({ id: 'c1', availableSlots: 39 });
  expect(updated!.json).toEqual(rest);
  expect(updated!.id).toBe(fullUpdate.id);
  // Public streams compact their projection the same way.
  const publicUpdate = publicCompact.events()[1]!.json;
  expect(publicUpdate).toMatchObject({ key: 'c1', changes: { availableSlots: 39 }, userId: null });
  expect(publicUpdate).not.toHaveProperty('row');
  if (process.env.PGFEED_TEST_FIGURES) {
    const bytes = (f: { id?: string; event: string; data: string }) =>
      `id: ${f.id}\nevent: ${f.event}\ndata: ${f.data}\n\n`.length;
    console.log(`trip update frame: ${bytes(fullUpdate)} bytes full, ${bytes(updated!)} bytes compact`);
  }
  for (const s of [full, compact, publicCompact]) s.close();
});

test('frame=compact is for JSON: with format=html, or an unknown frame, it is a 400 before the stream starts', async () => {
  for (const query of ['format=html&frame=compact', 'frame=tiny']) {
    const res = await fetch(`${server.url}/events/company/acme?${query}`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_query' } });
  }
});
