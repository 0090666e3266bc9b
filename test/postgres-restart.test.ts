import type { Sql } from '../src/db/connect';
import type { Pgfeed } from '../src/service';
import { tripWriter } from './support/fixtures';
import { type RestartableDatabase, restartableDatabase } from './support/restartable';
import { type FaultyProxy, startProxy } from './support/proxy';
import { listenerState, startService, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';
import { eventually } from './support/eventually';

let db: RestartableDatabase;
let sql: Sql;
let server: Pgfeed;
let proxy: FaultyProxy;
const ask = (cmd: 'stop' | 'start') => db.ask(cmd);

beforeAll(async () => {
  db = await restartableDatabase();
  sql = db.sql;
  // The service goes through a proxy, so the test can keep its listener away until the writes are in.
  proxy = await startProxy(db.url);
  server = await startService(proxy.url);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await db?.close();
});

test('PostgreSQL restarts: streams stay open, /readyz is 503 until caught up, nothing lost or doubled', async () => {
  const write = tripWriter(sql, 'pr');
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const s = await openLiveStream(`${server.url}/events/company/acme`, { token });
  const before = await write(2);
  await s.waitFor((f) => f.json?.key === before.at(-1));

  const down = listenerState(server, 'connecting');
  await ask('stop');
  await down;
  expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
  proxy.cut(); // the service cannot reconnect until the writes below have committed
  await ask('start');
  const after = await write(3); // committed while no listener can hear NOTIFY: only catch-up delivers them
  expect(server.status().ready).toBe(false);
  const up = listenerState(server, 'live');
  proxy.heal();
  await up;
  // In wal mode capture reconnects on its own schedule; /readyz says 200 once both are back.
  await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { timeoutMs: 20_000, what: '/readyz 200' });
  await s.waitFor((f) => f.json?.key === after.at(-1), { timeoutMs: 20_000 });
  expect(s.events().map((f) => f.json.key)).toEqual([...before, ...after]);
  s.close();
}, 60_000);
