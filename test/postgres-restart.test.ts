import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { connect, type Sql } from '../src/db/connect';
import { migrate } from '../src/db/migrate';
import { domainMigrations } from '../src/domain';
import type { Pgfeed } from '../src/service';
import { freePort } from './support/toolkit';
import { databaseUrl } from './support/db';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { type FaultyProxy, startProxy } from './support/proxy';
import { listenerState, startService, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';

// A PostgreSQL server of this file's own (embedded, in a child process), so it can be restarted
// whatever server the rest of the suite uses.
let child: ChildProcess;
let sql: Sql;
let server: Pgfeed;
let proxy: FaultyProxy;

function ask(cmd: 'stop' | 'start'): Promise<{ url?: string }> {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send(cmd);
  });
}

beforeAll(async () => {
  child = fork(path.join(__dirname, 'support', 'embedded-child.ts'), [String(await freePort())], {
    execArgv: ['--import', 'tsx'],
  });
  const { url } = await new Promise<{ url: string }>((resolve) => child.once('message', resolve));
  const admin = connect(url, { max: 1 });
  await admin`create database feed`;
  await admin.end();
  sql = connect(databaseUrl(url, 'feed'), { max: 2 });
  await migrate(sql);
  await migrate(sql, domainMigrations());
  await seedTwoCompanies(sql);
  // The service goes through a proxy, so the test can keep its listener away until the writes are in.
  proxy = await startProxy(databaseUrl(url, 'feed'));
  server = await startService(proxy.url);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await sql?.end({ timeout: 1 });
  if (child?.connected) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.send('exit');
    await exited;
  }
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
  expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  await s.waitFor((f) => f.json?.key === after.at(-1), { timeoutMs: 20_000 });
  expect(s.events().map((f) => f.json.key)).toEqual([...before, ...after]);
  s.close();
}, 60_000);
