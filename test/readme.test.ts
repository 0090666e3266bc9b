/**
 * The README's "Use it on your own database" steps, run as written against a
 * database with tables of its own: the `pgfeed` commands of its shell block
 * (with this test's database, secret and port), its SQL, and its Node
 * application (with `pgfeed` resolved to this checkout, as an install would).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './support/build';
import { cleanEnv, finish, pgfeed } from './support/cli';
import { emptyDatabase, type TestDatabase } from './support/db';
import { TEST_JWT_SECRET } from './support/service';
import { openStream } from './support/stream';
import { freePort } from './support/toolkit';
import { listeningProcess } from './support/under-load';

jest.setTimeout(120_000);

let db: TestDatabase;
let section: string;
const children: ChildProcessWithoutNullStreams[] = [];

/** The fenced blocks of `lang` in the section, in order. */
const blocks = (lang: string) => [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);

beforeAll(async () => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  section = /## Use it on your own database\n([\s\S]*?)\n## /.exec(readme)![1]!;
  db = await emptyDatabase();
  // An existing application's tables, two of them named like the demo's but of other shapes.
  await db.sql`create table companies (code text primary key)`;
  await db.sql`create table users (email text primary key)`;
  await db.sql`create table orders (id bigint primary key, tenant_id text not null, customer_id text, total numeric(10, 2))`;
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await db?.drop();
});

test('the shell and SQL steps: start, watch, mint a token, open a stream, see the insert', async () => {
  const started = Date.now();
  const [shell, token, stream] = blocks('sh');
  const [watch, insert] = blocks('sql');
  const port = await freePort();
  const env = { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, PORT: String(port), HOST: '127.0.0.1' };
  const args = (line: string) => line.replace(/#.*$/, '').trim().split(/\s+/).slice(2); // after `npx pgfeed`

  const start = shell!.split('\n').find((l) => l.startsWith('npx pgfeed'))!;
  const server = pgfeed(args(start), env);
  children.push(server);
  await listeningProcess(server);
  await db.sql.unsafe(watch!);
  const minted = await finish(pgfeed(args(/\$\((npx pgfeed [^)]*)\)/.exec(token!)![1]!), env));
  expect(minted.code).toBe(0);
  const url = /"(http:\/\/localhost:8080\/[^"]+)"/.exec(stream!)![1]!.replace('localhost:8080', `127.0.0.1:${port}`);
  const events = await openStream(url, { token: minted.stdout.trim() });
  await events.waitFor((f) => f.event === 'ready');
  await db.sql.unsafe(insert!);
  const created = await events.waitFor((f) => f.event === 'orders.created');
  process.stdout.write(`\nreadme: empty database to first event through the documented commands: ${Date.now() - started} ms\n`);
  expect(created.json).toMatchObject({ entity: 'orders', op: 'insert', companyId: 't1', userId: 'c42', key: '1' });
  events.close();
  server.kill('SIGTERM');
  expect((await finish(server)).code).toBe(0);
});

test('the Node application: startPgfeed, signToken, the printed curl command streams the table', async () => {
  const [app] = blocks('js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-readme-'));
  try {
    await mkdir(path.join(dir, 'node_modules'));
    await symlink(ROOT, path.join(dir, 'node_modules', 'pgfeed'), 'dir');
    await writeFile(path.join(dir, 'app.js'), app!);
    const port = await freePort();
    const child = spawn(process.execPath, ['app.js'], {
      cwd: dir,
      env: cleanEnv({ DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, PORT: String(port) }),
    });
    children.push(child);
    const printed = new Promise<string>((resolve) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('curl '));
        if (line) resolve(line);
      });
    });
    await listeningProcess(child);
    const [, token, url] = /Bearer ([^"]+)" "([^"]+)"/.exec(await printed)!;
    const events = await openStream(url!.replace('0.0.0.0', '127.0.0.1'), { token: token! });
    await events.waitFor((f) => f.event === 'ready');
    await db.sql`insert into orders (id, tenant_id, total) values (2, 't1', 3.20)`;
    expect((await events.waitFor((f) => f.event === 'orders.created')).json).toMatchObject({ key: '2', companyId: 't1' });
    events.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
