/**
 * pgfeed where its users are: `npm pack`ed, installed into a fresh application
 * (from the local npm cache), started there with `startPgfeed()` on a table of
 * the application's own, while PostgreSQL restarts under API load. The driver
 * fix must travel with the package (vendor/postgres): the application's own
 * copy of postgres 3.4.9 is the unpatched release.
 */
import { execFile, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Auth } from '../src/http/auth';
import { ROOT } from './support/build';
import { cleanEnv } from './support/cli';
import { type RestartableDatabase, restartableDatabase } from './support/restartable';
import { TEST_JWT_SECRET } from './support/service';
import { Follower, type PgfeedProcess, listeningProcess, nextEvents } from './support/under-load';

const run = promisify(execFile);
/** The @types/node this repository uses (in the local npm cache). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeTypes = (require('../node_modules/@types/node/package.json') as { version: string }).version;
const RESTARTS = 3;
const COUNTERS = Array.from({ length: 8 }, (_, i) => `c${i + 1}`);

/** The application: its own route writes in a transaction (what took 3.4.9 down), pgfeed streams its table. */
const APP = `
const express = require('express');
const { startPgfeed } = require('pgfeed');

startPgfeed({
  databaseUrl: process.env.DATABASE_URL,
  config: { PORT: 0, HOST: '127.0.0.1', JWT_SECRET: process.env.JWT_SECRET, LISTENER_PING_MS: 500 },
  routes: (ctx) => [
    express.Router().post('/api/counters/:id/bump', async (req, res, next) => {
      try {
        const [row] = await ctx.sql.begin((tx) => tx\`update counters set n = n + 1 where id = \${req.params.id} returning n\`);
        res.json(row);
      } catch (error) {
        next(error);
      }
    }),
  ],
}).then((feed) => process.on('SIGTERM', () => feed.close().then(() => process.exit(0))));
`;

let app: string;
let db: RestartableDatabase;
let pgfeed: PgfeedProcess | undefined;
const measured: Record<string, unknown> = {};

beforeAll(async () => {
  app = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-user-app-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: ROOT });
  const [packed] = JSON.parse(stdout) as { filename: string; size: number; unpackedSize: number }[];
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'user-app', private: true }));
  await writeFile(path.join(app, 'app.js'), APP);
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(app, packed!.filename)], {
    cwd: app,
    env: cleanEnv({}),
  });
  const { stdout: du } = await run('du', ['-sk', path.join(app, 'node_modules')]);
  Object.assign(measured, {
    packedBytes: packed!.size,
    unpackedBytes: packed!.unpackedSize,
    installedKiB: Number(du.split(/\s/)[0]),
  });

  db = await restartableDatabase();
  await db.sql`create table counters (id text primary key, company_id text not null, n int not null default 0)`;
  for (const id of COUNTERS) await db.sql`insert into counters (id, company_id) values (${id}, 'acme')`;
  await db.sql`select pgfeed.watch('public.counters', company_column => 'company_id')`;
}, 300_000);

afterAll(async () => {
  if (pgfeed && !pgfeed.exit) {
    pgfeed.child.kill('SIGTERM');
    await pgfeed.exited;
  }
  await db?.close();
  if (app) await rm(app, { recursive: true, force: true });
});

test("the installed package runs the fixed driver, not the application's unpatched postgres 3.4.9", async () => {
  const own = await readFile(path.join(app, 'node_modules', 'postgres', 'cjs', 'src', 'connection.js'), 'utf8');
  const shipped = await readFile(path.join(app, 'node_modules', 'pgfeed', 'vendor', 'postgres', 'connection.js'), 'utf8');
  expect(own).not.toContain('The socket closed before these bytes could go out');
  expect(shipped).toContain('The socket closed before these bytes could go out');
  process.stdout.write(`\ninstalled-package: ${JSON.stringify(measured)}\n`);
});

test('a TypeScript application type-checks against the package with only @types/node beside it', async () => {
  // What a TypeScript user writes: the entry, the express sub-entry, an entity with a zod 4 schema, a route.
  await writeFile(
    path.join(app, 'check.ts'),
    `import { defineEntity, startPgfeed, type Pgfeed, type RouteContext } from 'pgfeed';
import { parseBody } from 'pgfeed/express';
import { Router } from 'express';
import { z } from 'zod';

const order = defineEntity({ name: 'orders', table: 'orders', row: z.object({ id: z.string(), total: z.string() }) });
const routes = (ctx: RouteContext) => [
  Router().post('/x', async (req, res) => {
    const claims = await ctx.authenticate(req);
    res.json({ sub: claims.sub, n: parseBody(req, z.object({ n: z.number() })).n });
  }),
];
export const feed: Promise<Pgfeed> = startPgfeed({ databaseUrl: 'postgres://x', entities: [order], routes, config: { JWT_SECRET: 'x'.repeat(32) } });
`,
  );
  await writeFile(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'node16',
        moduleResolution: 'node16',
        target: 'es2022',
        types: ['node'],
      },
      files: ['check.ts'],
    }),
  );
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--save-dev', `@types/node@${nodeTypes}`], {
    cwd: app,
    env: cleanEnv({}),
  });
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const checked = await run(process.execPath, [tsc, '-p', app]).then(
    () => '',
    (error: { stdout: string }) => error.stdout,
  );
  expect(checked).toBe('');
}, 120_000);

test(`startPgfeed() in the application stays up through ${RESTARTS} PostgreSQL restarts under load, and its stream loses and doubles nothing`, async () => {
  pgfeed = await listeningProcess(
    spawn(process.execPath, ['app.js'], { cwd: app, env: cleanEnv({ DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET }) }),
  );
  const p = pgfeed;
  const unlessExited = <T>(x: Promise<T>): Promise<T> => p.unlessExited(x);
  const token = await new Auth(TEST_JWT_SECRET).sign({ sub: 'ops', company: 'acme', role: 'admin' });
  const follower = new Follower(`${p.base}/events/company/acme?entities=counters`, token);
  await unlessExited(follower.ready());

  const acked: { key: string; n: number }[] = [];
  const writes = new EventEmitter();
  let stopping = false;
  const worker = async (key: string) => {
    while (!stopping) {
      const res = await fetch(`${p.base}/api/counters/${key}/bump`, {
        method: 'POST',
        signal: AbortSignal.timeout(15_000),
      }).catch(() => undefined);
      if (res?.ok) {
        acked.push({ key, n: ((await res.json()) as { n: number }).n });
        writes.emit('ok');
      } else {
        await res?.text();
        await delay(20); // a client backs off while the database is away
      }
    }
  };
  const acknowledged = (n: number) => unlessExited(nextEvents(writes, 'ok', n));
  const workers = COUNTERS.map(worker);
  try {
    for (let i = 0; i < RESTARTS; i++) {
      await acknowledged(COUNTERS.length * 2);
      await unlessExited(db.ask(i % 2 === 0 ? 'stop:fast' : 'stop:immediate'));
      await unlessExited(db.ask('start'));
    }
    await acknowledged(COUNTERS.length * 2);
  } finally {
    stopping = true;
    await Promise.all(workers);
  }
  const committed = await db.sql<{ id: string; key: string; n: number }[]>`
    select e.id::text as id, e.key, (e.row->>'n')::int as n from pgfeed.events e where e.entity = 'counters' order by e.id`;
  await unlessExited(follower.waitForId(committed.at(-1)!.id, 60_000));
  await follower.close();

  expect(p.exit).toBeUndefined();
  const received = follower.events().map((f) => ({ id: f.id, key: f.json.key as string, n: f.json.row.n as number }));
  expect(received).toEqual(committed.map((r) => ({ ...r })));
  for (const key of COUNTERS) {
    const [row] = await db.sql<{ n: number }[]>`select n from counters where id = ${key}`;
    const seen = received.filter((r) => r.key === key).map((r) => r.n);
    expect(seen).toEqual(Array.from({ length: row!.n }, (_, i) => i + 1));
    for (const a of acked.filter((x) => x.key === key)) expect(seen).toContain(a.n);
  }
  process.stdout.write(
    `\ninstalled-package: ${JSON.stringify({ restarts: RESTARTS, acknowledged: acked.length, events: received.length })}\n`,
  );
}, 240_000);
