import { subscribe } from '../src/client';
import type { ChangeEvent } from '../src/events/schema';
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { type FaultyProxy, startProxy } from './support/proxy';
import { eventually } from './support/eventually';
import { listenerState, metric, startService, tokenFor } from './support/service';
import { type OpenStream, openLiveStream } from './support/stream';

let db: TestDatabase;
let write: (count: number) => Promise<string[]>;
let proxy: FaultyProxy;
let server: Pgfeed;
let token: string;

beforeAll(async () => {
  db = await freshDatabase();
  write = tripWriter(db.sql, 'f');
  await seedTwoCompanies(db.sql);
  proxy = await startProxy(db.url);
  // Every connection of the service reaches PostgreSQL through the proxy (in wal mode the capturer's
  // replication connection too, as on a real network); the test writes directly.
  server = await startService(proxy.url, { LISTENER_PING_MS: 300 });
  token = await tokenFor(server, 'alice', 'acme', 'admin');
});
afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await db?.drop();
});

const readyz = async () => (await fetch(`${server.url}/readyz`)).status;

function expectExactlyOnce(s: OpenStream, keys: string[]) {
  const got = s.events().map((f) => f.json.key as string);
  expect(got).toEqual(keys);
}

test('the listener is killed with pg_terminate_backend: reconnect, catch up, nothing lost or doubled', async () => {
  const s = await openLiveStream(`${server.url}/events/company/acme`, { token });
  const before = await write(2);
  await s.waitFor((f) => f.json?.key === before.at(-1));
  const reconnects = await metric(server, 'pgfeed_listener_reconnects_total');
  const [killed] = await db.sql`
    select count(*)::int as n from (
      select pg_terminate_backend(pid) from pg_stat_activity
       where application_name = 'pgfeed-listener' and datname = current_database()) t`;
  expect(killed?.n).toBe(1);
  const during = await write(5);
  await listenerState(server, 'live');
  const after = await write(2);
  await s.waitFor((f) => f.json?.key === after.at(-1));
  expectExactlyOnce(s, [...before, ...during, ...after]);
  expect(await metric(server, 'pgfeed_listener_reconnects_total')).toBe(reconnects + 1);
  expect(await readyz()).toBe(200);
  s.close();
});

test('PostgreSQL unreachable: /readyz is 503 until the listener is back and caught up; open streams lose nothing', async () => {
  const s = await openLiveStream(`${server.url}/events/company/acme`, { token });
  const events: ChangeEvent[] = [];
  const client = subscribe({ url: `${server.url}/events/company/acme`, token, onEvent: (e) => events.push(e) });
  const before = await write(1);
  await s.waitFor((f) => f.json?.key === before[0]);

  const down = listenerState(server, 'connecting');
  proxy.cut();
  await down;
  expect(await readyz()).toBe(503);
  const body = (await (await fetch(`${server.url}/readyz`)).json()) as { ready: boolean; reason?: string };
  expect(body).toMatchObject({ ready: false, reason: expect.stringMatching(/^listener connecting/) });
  const during = await write(4); // committed while no listener can hear NOTIFY
  expect(await readyz()).toBe(503);
  expect(s.events().map((f) => f.json.key)).toEqual(before);

  const up = listenerState(server, 'live');
  proxy.heal();
  await up;
  expect(await readyz()).toBe(200);
  await s.waitFor((f) => f.json?.key === during.at(-1));
  const after = await write(1);
  await s.waitFor((f) => f.json?.key === after[0]);
  expectExactlyOnce(s, [...before, ...during, ...after]);
  await eventually(() => events.some((e) => e.key === after[0]), { what: 'the client got the last event' });
  expect(events.map((e) => e.key)).toEqual([...before, ...during, ...after]);
  client.close();
  await client.done;
  s.close();
});

test('a half-open listener connection is found by the ping and replaced', async () => {
  const s = await openLiveStream(`${server.url}/events/company/acme`, { token });
  const down = listenerState(server, 'connecting');
  proxy.freeze(); // TCP stays up, nothing flows: only the ping can notice
  const during = await write(3);
  await down;
  const up = listenerState(server, 'live');
  proxy.heal();
  await up;
  await s.waitFor((f) => f.json?.key === during.at(-1));
  const got = s.events().map((f) => f.json.key);
  expect(got.slice(-3)).toEqual(during);
  expect(new Set(got).size).toBe(got.length);
  s.close();
});
