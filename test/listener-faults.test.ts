import { subscribe } from '../src/client/subscribe';
import type { ChangeEvent } from '../src/events/schema';
import type { ListenerState } from '../src/listener/listener';
import type { PgfeedServer } from '../src/server';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { type FaultyProxy, startProxy } from './support/proxy';
import { startService, tokenFor } from './support/service';
import { type OpenStream, openStream } from './support/stream';

let db: TestDatabase;
let write: (count: number) => Promise<string[]>;
let proxy: FaultyProxy;
let server: PgfeedServer;
let token: string;

beforeAll(async () => {
  db = await freshDatabase();
  write = tripWriter(db.sql, 'f');
  await seedTwoCompanies(db.sql);
  proxy = await startProxy(db.url);
  // The service reaches PostgreSQL through the proxy; the test writes directly.
  server = await startService(proxy.url, { LISTENER_PING_MS: 300 });
  token = await tokenFor(server, 'alice', 'acme', 'admin');
});
afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await db?.drop();
});

function nextState(want: ListenerState): Promise<void> {
  return new Promise((resolve) => {
    if (server.listener.state === want) return resolve();
    const on = (s: ListenerState) => {
      if (s !== want) return;
      server.listener.off('state', on);
      resolve();
    };
    server.listener.on('state', on);
  });
}

const readyz = async () => (await fetch(`${server.url}/readyz`)).status;

async function liveStream(): Promise<OpenStream> {
  const s = await openStream(`${server.url}/events/company/acme`, { token });
  await s.waitFor((f) => f.event === 'ready');
  return s;
}

function expectExactlyOnce(s: OpenStream, keys: string[]) {
  const got = s.events().map((f) => f.json.key as string);
  expect(got).toEqual(keys);
}

test('the listener is killed with pg_terminate_backend: reconnect, catch up, nothing lost or doubled', async () => {
  const s = await liveStream();
  const before = await write(2);
  await s.waitFor((f) => f.json?.key === before.at(-1));
  const reconnects = server.metrics.registry.value('pgfeed_listener_reconnects_total');
  const [killed] = await db.sql`
    select count(*)::int as n from (
      select pg_terminate_backend(pid) from pg_stat_activity
       where application_name = 'pgfeed-listener' and datname = current_database()) t`;
  expect(killed?.n).toBe(1);
  const during = await write(5);
  await nextState('live');
  const after = await write(2);
  await s.waitFor((f) => f.json?.key === after.at(-1));
  expectExactlyOnce(s, [...before, ...during, ...after]);
  expect(server.metrics.registry.value('pgfeed_listener_reconnects_total')).toBe(reconnects + 1);
  expect(await readyz()).toBe(200);
  s.close();
});

test('PostgreSQL unreachable: /readyz is 503 until the listener is back and caught up; open streams lose nothing', async () => {
  const s = await liveStream();
  const events: ChangeEvent[] = [];
  const client = subscribe({ url: `${server.url}/events/company/acme`, token, onEvent: (e) => events.push(e) });
  const before = await write(1);
  await s.waitFor((f) => f.json?.key === before[0]);

  const down = nextState('connecting');
  proxy.cut();
  await down;
  expect(await readyz()).toBe(503);
  const during = await write(4); // committed while no listener can hear NOTIFY
  expect(await readyz()).toBe(503);
  expect(s.events().map((f) => f.json.key)).toEqual(before);

  const up = nextState('live');
  proxy.heal();
  await up;
  expect(await readyz()).toBe(200);
  await s.waitFor((f) => f.json?.key === during.at(-1));
  const after = await write(1);
  await s.waitFor((f) => f.json?.key === after[0]);
  expectExactlyOnce(s, [...before, ...during, ...after]);
  await waitForClient(() => events.some((e) => e.key === after[0]));
  expect(events.map((e) => e.key)).toEqual([...before, ...during, ...after]);
  client.close();
  await client.done;
  s.close();
});

test('a half-open listener connection is found by the ping and replaced', async () => {
  const s = await liveStream();
  const down = nextState('connecting');
  proxy.freeze(); // TCP stays up, nothing flows: only the ping can notice
  const during = await write(3);
  await down;
  const up = nextState('live');
  proxy.heal();
  await up;
  await s.waitFor((f) => f.json?.key === during.at(-1));
  const got = s.events().map((f) => f.json.key);
  expect(got.slice(-3)).toEqual(during);
  expect(new Set(got).size).toBe(got.length);
  s.close();
});

async function waitForClient(cond: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('client did not receive in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
