/**
 * Cheap requests must not buy expensive work: a replay reads from the log only
 * what its stream may see (filtered in SQL), and only a few replays read the
 * log at once.
 */
import type { Pgfeed } from '../../src/service';
import { Slots } from '../../src/streams/slots';
import type { TestDatabase } from '../support/db';
import { caughtUp, closeService, serviceOnFreshDatabase, tokenFor } from '../support/service';
import { openLiveStream } from '../support/stream';

let db: TestDatabase;
let server: Pgfeed;
beforeAll(async () => ({ db, server } = await serviceOnFreshDatabase({ config: { MAX_CONCURRENT_REPLAYS: 2 } })));
afterAll(() => closeService(server, db));

test('a public replay never reads private rows from the log', async () => {
  const start = await openLiveStream(`${server.url}/events/public/acme`);
  start.close();
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('rp-1', 'acme', 'A-B', '2026-12-24T08:00:00Z', 10, 10)`;
  // A private event no decoder accepts, planted in the log: reading it would break the replay.
  await db.sql`insert into pgfeed.events (id, entity, op, company_id, user_id, key, row)
               values (nextval('pgfeed.event_id_seq'), 'booking', 'insert', 'acme', 'cora', 'poison', '{"id": 1}')`;
  await db.sql`update trips set available_slots = 9 where id = 'rp-1'`;
  await caughtUp(server, db.sql); // so the replay, not live delivery, brings both

  const replay = await openLiveStream(`${server.url}/events/public/acme`, { lastEventId: start.ready.id! });
  expect(replay.events().map((f) => f.event)).toEqual(['trip.created', 'trip.updated']);
  expect(replay.ready.json.replayed).toBe(2);
  const user = await openLiveStream(`${server.url}/events/user`, {
    token: await tokenFor(server, 'cody', 'acme', 'customer'),
    lastEventId: start.ready.id!,
  });
  expect(user.events()).toEqual([]); // cody's replay does not read cora's rows either
  replay.close();
  user.close();
});

test('replays beyond MAX_CONCURRENT_REPLAYS wait their turn and all complete', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const [first] = await db.sql<{ id: string }[]>`select min(id)::text as id from pgfeed.events where entity = 'trip'`;
  const from = (BigInt(first!.id) - 1n).toString();
  const streams = await Promise.all(
    Array.from({ length: 6 }, () =>
      openLiveStream(`${server.url}/events/company/acme?entities=trip`, { token, lastEventId: from }),
    ),
  );
  for (const s of streams) {
    expect(s.events().map((f) => f.json.key)).toEqual(['rp-1', 'rp-1']);
    s.close();
  }
});

test('Slots runs at most its size at once, first come first served', async () => {
  const slots = new Slots(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const release: (() => void)[] = [];
  const tasks = Array.from({ length: 5 }, (_, i) =>
    slots.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise<void>((resolve) => (release[i] = resolve));
      running--;
    }),
  );
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setImmediate(r));
    expect(running).toBeLessThanOrEqual(2);
    release[i]!();
  }
  await Promise.all(tasks);
  expect(peak).toBe(2);
  expect(order).toEqual([0, 1, 2, 3, 4]);
});
