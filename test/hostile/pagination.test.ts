/** Snapshots come in keyset pages of at most 1000 rows, each with its own exact lastEventId. */
import type { Pgfeed } from '../../src/service';
import type { TestDatabase } from '../support/db';
import { captured, closeService, serviceOnFreshDatabase, tokenFor } from '../support/service';
import { openLiveStream } from '../support/stream';

let db: TestDatabase;
let server: Pgfeed;
let token: string;
beforeAll(async () => {
  ({ db, server } = await serviceOnFreshDatabase({
    // Ties on departs_at: the id breaks them, so no row is skipped or repeated at a page edge.
    seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
      select 'pg-' || lpad(g::text, 3, '0'), 'acme', 'R', '2026-12-24T08:00:00Z'::timestamptz + (g / 4) * interval '1 hour', 10, 10
      from generate_series(1, 25) g`,
  }));
  token = await tokenFor(server, 'alice', 'acme', 'admin');
});
afterAll(() => closeService(server, db));

const get = async (query: string) => {
  const res = await fetch(`${server.url}/api/companies/acme/trips${query}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as any };
};

test('pages of 10 cover every row once, in order, and the last page says so', async () => {
  const ids: string[] = [];
  let after = '';
  let pages = 0;
  for (;;) {
    const { status, body } = await get(`?limit=10${after}`);
    expect(status).toBe(200);
    pages++;
    ids.push(...body.items.map((r: { id: string }) => r.id));
    if (body.next === null) break;
    after = `&after=${body.next}`;
  }
  expect(pages).toBe(3);
  const [all] = await db.sql<
    { ids: string[] }[]
  >`select array_agg(id order by departs_at, id) as ids from trips where company_id = 'acme'`;
  expect(ids).toEqual(all!.ids);
});

test("each page's lastEventId is exact: a change between pages is delivered from the first page's", async () => {
  const first = await get('?limit=10');
  await db.sql`update trips set available_slots = 3 where id = 'pg-025'`;
  await captured(db.sql); // in wal mode the log has it once capture has appended it
  const second = await get(`?limit=10&after=${first.body.next}`);
  expect(BigInt(second.body.lastEventId)).toBeGreaterThan(BigInt(first.body.lastEventId));
  const s = await openLiveStream(`${server.url}/events/company/acme?entities=trip`, {
    token,
    lastEventId: first.body.lastEventId,
  });
  await s.waitFor((f) => f.json?.key === 'pg-025');
  expect(s.events().map((f) => [f.json.key, f.json.changes?.availableSlots])).toEqual([['pg-025', 3]]);
  s.close();
});

test.each([
  ['limit 0', '?limit=0'],
  ['limit over 1000', '?limit=1001'],
  ['limit not a number', '?limit=ten'],
  ['a cursor that is not ours', '?after=bm90LWEtY3Vyc29y'],
  ['a cursor with a bad value', `?after=${Buffer.from(JSON.stringify({ departs_at: 'soon', id: 'x' })).toString('base64url')}`],
])('%s is a 400', async (_what, query) => {
  const { status, body } = await get(query);
  expect(status).toBe(400);
  expect(['invalid_query', 'invalid_params']).toContain(body.error.code);
});

test('the anonymous public page renders a bounded number of rows, and says so', async () => {
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               select 'bulk-' || g, 'acme', 'R', '2027-01-01T00:00:00Z', 10, 10 from generate_series(1, 600) g`;
  const page = await (await fetch(`${server.url}/public/acme`)).text();
  expect(page.match(/class="row trip"/g)?.length).toBe(500);
  expect(page).toContain('Only the first 500 are shown here.');
});
