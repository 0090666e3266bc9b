/**
 * The capturer's replication connection cut along with every other connection
 * of the service (a network blip), in both capture modes. In wal mode the new
 * streaming session gets what was committed meanwhile in one burst; it must
 * append all of it at once, not wait for the next commit to come along.
 */
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { type FaultyProxy, startProxy } from './support/proxy';
import { captured, listenerState, startService, tokenFor } from './support/service';
import { type OpenStream, openLiveStream } from './support/stream';

let db: TestDatabase;
let proxy: FaultyProxy;
let server: Pgfeed;
let stream: OpenStream;

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  proxy = await startProxy(db.url);
  // Every connection of the service goes through the proxy, the replication connection too; the test writes directly.
  server = await startService(proxy.url, { LISTENER_PING_MS: 300 });
  stream = await openLiveStream(`${server.url}/events/company/acme`, {
    token: await tokenFor(server, 'alice', 'acme', 'admin'),
  });
});
afterAll(async () => {
  stream?.close();
  await server?.close();
  await proxy?.close();
  await db?.drop();
});

test('every connection cut at once, the replication one too: what was committed meanwhile arrives as soon as the network heals', async () => {
  const write = tripWriter(db.sql, 'cut');
  for (let round = 0; round < 6; round++) {
    // The cut lands at a different moment each round, some while the last append or its confirmation is in flight.
    const [before] = await write(1);
    await new Promise((r) => setTimeout(r, round * 4));
    const down = listenerState(server, 'connecting');
    proxy.cut();
    await down;
    // Committed while the capturer is away, so the next session receives them together. The first is a
    // transaction with nothing for the log (another application's logical message, as a heartbeat would be).
    await db.sql`select pg_logical_emit_message(true, 'another-app', 'heartbeat')`;
    const during = await write(2);
    const up = listenerState(server, 'live');
    proxy.heal();
    await up;
    // Nothing else is committed until these arrive: a capturer waiting for the next commit never gets them.
    const frame = await stream.waitFor((f) => f.json?.key === during.at(-1), { timeoutMs: 5000 });
    expect(stream.events().filter((f) => [before, ...during].includes(f.json.key as string))).toHaveLength(3);
    expect(frame.json.key).toBe(during.at(-1));
    await captured(db.sql, 5000);
  }
}, 60_000);
