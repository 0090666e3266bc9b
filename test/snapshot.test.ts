import { connect } from '../src/db/connect';
import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { caughtUp, closeService, reached, serviceOnFreshDatabase, tokenFor } from './support/service';
import { openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;

beforeAll(
  async () =>
    ({ db, server } = await serviceOnFreshDatabase({
      seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               select 'st' || g, 'acme', 'R' || g, '2026-12-24T08:00:00Z', 1000, 1000 from generate_series(1, 10) g`,
    })),
);
afterAll(() => closeService(server, db));

type Row = Record<string, unknown> & { id: string };

/** Resolves once the service has delivered an event after `id` (the writers are running, so one comes soon). */
const logPassed = (id: string) => reached(server, BigInt(id) + 1n);

test('snapshot + subscribe from its lastEventId = the final state, with writes racing the snapshot', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const writers = connect(db.url, { max: 8 });
  let writing = true;
  // Eight writers change, create and delete trips in plain SQL while snapshots are taken.
  const work = Array.from({ length: 8 }, async (_, w) => {
    let i = 0;
    while (writing) {
      i++;
      const id = `st${1 + ((w * 7 + i) % 10)}`;
      await writers.begin(async (tx) => {
        await tx`update trips set available_slots = available_slots - 1 where id = ${id}`;
        if (i % 5 === 0) {
          await tx`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                   values (${`new-${w}-${i}`}, 'acme', 'N', '2026-12-24T08:00:00Z', 3, 3)`;
        }
        if (i % 7 === 0) await tx`delete from trips where id = ${`new-${w}-${i - 5}`}`;
      });
    }
  });

  const snapshots: { items: Row[]; lastEventId: string; stream: Awaited<ReturnType<typeof openStream>> }[] = [];
  for (let k = 0; k < 5; k++) {
    const previous = snapshots.at(-1)?.lastEventId;
    if (previous !== undefined) await logPassed(previous); // a write lands between two snapshots
    const res = await fetch(`${server.url}/api/companies/acme/trips`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const snap = (await res.json()) as { items: Row[]; lastEventId: string };
    const stream = await openStream(`${server.url}/events/company/acme?entities=trip`, { token, lastEventId: snap.lastEventId });
    await stream.waitFor((f) => f.event === 'ready');
    snapshots.push({ ...snap, stream });
  }
  writing = false;
  await Promise.all(work);
  // The writers really raced the snapshots: each snapshot saw a later position than the one before.
  const positions = snapshots.map((s) => BigInt(s.lastEventId));
  expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
  await writers.end();
  await caughtUp(server, db.sql);
  const [{ last } = { last: '0' }] = await db.sql<{ last: string }[]>`select max(id)::text as last from pgfeed.events`;

  const final = await (
    await fetch(`${server.url}/api/companies/acme/trips`, { headers: { Authorization: `Bearer ${token}` } })
  ).json();
  const byId = (rows: Row[]) => new Map(rows.map((r) => [r.id, r]));
  for (const snap of snapshots) {
    await snap.stream.waitFor((f) => f.id === last, { timeoutMs: 15_000 });
    const state = byId(snap.items);
    for (const f of snap.stream.events()) {
      // Only changes the snapshot does not reflect are delivered: nothing to skip.
      expect(BigInt(f.json.id)).toBeGreaterThan(BigInt(snap.lastEventId));
      if (f.json.op === 'delete') state.delete(f.json.key);
      else state.set(f.json.key, f.json.row);
    }
    snap.stream.close();
    expect(state).toEqual(byId(final.items));
  }
});
