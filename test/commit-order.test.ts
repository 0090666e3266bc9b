import { connect } from '../src/db/connect';
import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { captured, closeService, serviceOnFreshDatabase, startService, tokenFor } from './support/service';
import { openStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;

beforeAll(
  async () =>
    ({ db, server } = await serviceOnFreshDatabase({
      seed: (sql) => sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots) values
    ('trip-a', 'acme', 'A', '2026-12-24T08:00:00Z', 10, 10), ('trip-b', 'acme', 'B', '2026-12-24T08:00:00Z', 10, 10)`,
    })),
);
afterAll(() => closeService(server, db));

test('a transaction that wrote first but commits last is delivered after, and a resume from the earlier commit gets it once', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const live = await openStream(`${server.url}/events/company/acme`, { token });
  const client = await openStream(`${server.url}/events/company/acme`, { token });
  await live.waitFor((f) => f.event === 'ready');
  await client.waitFor((f) => f.event === 'ready');

  // A writes first and stays open.
  const a = await db.sql.reserve();
  try {
    await a`begin`;
    await a`update trips set available_slots = 1 where id = 'trip-a'`;
    // B writes after A and commits first.
    await db.sql`update trips set available_slots = 2 where id = 'trip-b'`;
    await client.waitFor((f) => f.json?.key === 'trip-b');
    client.close();
    await a`commit`;
  } finally {
    a.release();
  }

  // Live delivery is in commit order: B, then A.
  await live.waitFor((f) => f.json?.key === 'trip-a');
  expect(live.events().map((f) => f.json.key)).toEqual(['trip-b', 'trip-a']);

  // The client resumes from B's id and must receive A, exactly once.
  const bId = client.events().find((f) => f.json.key === 'trip-b')?.id;
  const resumed = await openStream(`${server.url}/events/company/acme`, { token, lastEventId: bId });
  const ready = await resumed.waitFor((f) => f.event === 'ready');
  expect(resumed.events().map((f) => [f.json.key, f.json.row.availableSlots])).toEqual([['trip-a', 1]]);
  expect(ready.json.replayed).toBe(1);

  // The same holds when the answer comes from the log instead of the ring (another instance, empty ring).
  const other = await startService(db.url, { REPLAY_BUFFER_SIZE: 1 });
  try {
    const fromLog = await openStream(`${other.url}/events/company/acme`, { token, lastEventId: bId });
    await fromLog.waitFor((f) => f.event === 'ready');
    expect(fromLog.events().map((f) => f.json.key)).toEqual(['trip-a']);
    fromLog.close();
  } finally {
    await other.close();
  }
  expect(BigInt(live.events()[1]?.id ?? 0) > BigInt(live.events()[0]?.id ?? 0)).toBe(true);
  live.close();
  resumed.close();
});

test('ids are in commit order across many interleaved transactions', async () => {
  // 20 transactions open at once, committed in a shuffled order: the log's id order must equal commit order.
  const pool = connect(db.url, { max: 20 });
  const conns = await Promise.all(Array.from({ length: 20 }, () => pool.reserve()));
  try {
    for (const [i, c] of conns.entries()) {
      await c`begin`;
      await c`insert into stock_items (id, company_id, sku, name, quantity) values (${'order-' + i}, 'acme', ${'SKU' + i}, 'x', 1)`;
    }
    const commitOrder = conns.map((_, i) => i).sort((x, y) => ((x * 7 + 3) % 20) - ((y * 7 + 3) % 20));
    for (const i of commitOrder) await conns[i]!`commit`;
    await captured(db.sql);
    const rows = await db.sql<{ key: string }[]>`select key from pgfeed.events where key like 'order-%' order by id`;
    expect(rows.map((r) => r.key)).toEqual(commitOrder.map((i) => `order-${i}`));
  } finally {
    conns.forEach((c) => c.release());
    await pool.end();
  }
});
