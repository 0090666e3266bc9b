/**
 * The `pgfeed` command as users run it: the compiled bin (dist/cli/index.js,
 * built in global setup), through npm scripts and npx where they would.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Auth } from '../src/http/auth';
import { ROOT } from './support/build';
import { cleanEnv, finish, pgfeed } from './support/cli';
import { emptyDatabaseHere } from './support/db';
import { outsideSchemaPgfeed } from './support/fixtures';
import { TEST_JWT_SECRET } from './support/service';
import { openStream } from './support/stream';
import { freePort, processTable, processTree } from './support/toolkit';

// Each test spawns processes (node, npm, PostgreSQL): on a machine shared with other work that takes its time.
jest.setTimeout(120_000);

/** Resolves with the first match of `pattern` in the child's stdout; rejects if it exits first. */
function waitForOutput(child: ChildProcessWithoutNullStreams, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`exited (${code}) early: ${out}${err}`)));
  });
}

describe('a bad configuration stops the process with exit code 2 and one line naming the variable', () => {
  test.each([
    ['PORT', { PORT: 'eighty' }, /^invalid configuration: PORT must be a whole number \(got "eighty"\)$/],
    ['HEARTBEAT_MS', { HEARTBEAT_MS: '-5' }, /^invalid configuration: HEARTBEAT_MS /],
    ['EVENT_RETENTION', { EVENT_RETENTION: 'forever' }, /^invalid configuration: EVENT_RETENTION must be a duration/],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }, /^invalid configuration: DATABASE_URL must be a postgres/],
    [
      'JWT_SECRET too short',
      { JWT_SECRET: 'short' },
      /^invalid configuration: JWT_SECRET must be at least 32 characters \(HS256 key\)$/,
    ],
    [
      'JWT_SECRET missing with DATABASE_URL',
      { DATABASE_URL: 'postgres://localhost/x' },
      /^invalid configuration: JWT_SECRET \(or JWKS_URL\) is required/,
    ],
    // Only the demo makes a secret up: the core's tokens come from elsewhere, and a made-up key refuses them all.
    ['JWT_SECRET missing on the embedded database', {}, /^invalid configuration: JWT_SECRET \(or JWKS_URL\) is required/],
  ])('%s', async (_name, env, line) => {
    const { code, stderr, stdout } = await finish(pgfeed(['start'], env));
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr.trim()).toMatch(line);
    expect(stdout).toBe('');
  });
});

describe('every command explains itself', () => {
  test.each(['start', 'demo', 'migrate', 'token', 'drop-slot', 'capture-mode', 'watch', 'unwatch', 'watches'])(
    'pgfeed %s --help',
    async (command) => {
      const { code, stdout, stderr } = await finish(pgfeed([command, '--help']));
      expect(code).toBe(0);
      expect(stderr).toBe('');
      expect(stdout).toMatch(new RegExp(`^usage: pgfeed ${command}`));
    },
  );

  test('npx pgfeed --help lists the commands', async () => {
    const child = spawn('npx', ['--no-install', 'pgfeed', '--help'], { cwd: ROOT, env: cleanEnv({}) });
    const { code, stdout } = await finish(child);
    expect(code).toBe(0);
    for (const command of ['start', 'demo', 'migrate', 'token', 'drop-slot', 'capture-mode', 'watch', 'unwatch', 'watches'])
      expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  test('start --help lists every setting with its default', async () => {
    const { stdout } = await finish(pgfeed(['start', '--help']));
    expect(stdout).toMatch(/^ {2}PORT +8080$/m);
    expect(stdout).toMatch(/^ {2}MAX_CONNECTIONS_PER_USER +20$/m);
  });
});

describe('a mistake is one line naming it and exit code 2, never a stack trace', () => {
  test.each([
    ['an unknown command', ['serve'], /^pgfeed: unknown command "serve" .*\(see pgfeed --help\)$/],
    ['an unknown option', ['token', '--user', 'x'], /^pgfeed token: unknown option '--user' \(see pgfeed token --help\)$/],
    ['a missing value', ['token', '--sub'], /^pgfeed token: option '--sub <value>' argument missing/],
    // The core names no role (JWT_ROLES_CLAIM, COMPANY_STREAM_ROLES): any role is signed, none is a mistake.
    ['no role', ['token', '--sub', 'u1', '--company', 'acme'], /--role is required/],
    ['no secret', ['token', '--sub', 'u1', '--company', 'acme', '--role', 'admin'], /JWT_SECRET must be set/],
    ['migrate without a database', ['migrate'], /^invalid configuration: DATABASE_URL must be set$/],
    ['drop-slot without a database', ['drop-slot'], /^invalid configuration: DATABASE_URL must be set$/],
  ])('%s', async (_name, args, line) => {
    const { code, stderr, stdout } = await finish(pgfeed(args));
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr.trim()).toMatch(line);
    expect(stdout).toBe('');
  });

  test('a database that does not answer is one line and exit code 1', async () => {
    const port = await freePort();
    const { code, stderr } = await finish(pgfeed(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x` }));
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`pgfeed migrate failed: connect ECONNREFUSED 127.0.0.1:${port}`);
  });
});

describe('npm run token', () => {
  test('prints a token the service accepts', async () => {
    const child = spawn('npm', ['run', '-s', 'token', '--', '--sub', 'u1', '--company', 'acme', '--role', 'cashier'], {
      cwd: ROOT,
      env: cleanEnv({ JWT_SECRET: TEST_JWT_SECRET }),
    });
    const { code, stdout } = await finish(child);
    expect(code).toBe(0);
    const claims = await new Auth(TEST_JWT_SECRET).verify(stdout.trim());
    expect(claims).toMatchObject({ sub: 'u1', company: 'acme', roles: ['cashier'], payload: { role: 'cashier' } });
  });

  test('puts the tenant and the role where JWT_TENANT_CLAIM and JWT_ROLES_CLAIM say, with JWT_ISSUER and JWT_AUDIENCE', async () => {
    const settings = {
      JWT_TENANT_CLAIM: 'org.id',
      JWT_ROLES_CLAIM: 'realm_access.roles',
      JWT_ISSUER: 'https://id.example.test/',
      JWT_AUDIENCE: 'pgfeed',
    };
    const { code, stdout } = await finish(
      pgfeed(['token', '--sub', 'u1', '--company', 'acme', '--role', 'dispatcher'], { JWT_SECRET: TEST_JWT_SECRET, ...settings }),
    );
    expect(code).toBe(0);
    const auth = new Auth(TEST_JWT_SECRET, {
      claimNames: { tenant: settings.JWT_TENANT_CLAIM, roles: settings.JWT_ROLES_CLAIM },
      issuer: settings.JWT_ISSUER,
      audience: settings.JWT_AUDIENCE,
    });
    expect(await auth.verify(stdout.trim())).toMatchObject({
      company: 'acme',
      roles: ['dispatcher'],
      payload: { org: { id: 'acme' }, realm_access: { roles: 'dispatcher' }, iss: 'https://id.example.test/', aud: 'pgfeed' },
    });
  });
});

describe('pgfeed migrate', () => {
  const db = emptyDatabaseHere();

  test('applies the migrations to an empty database once, and nothing outside schema pgfeed', async () => {
    const first = await finish(pgfeed(['migrate'], { DATABASE_URL: db.url }));
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^applied: 000001_pgfeed/);
    expect(await outsideSchemaPgfeed(db.sql)).toEqual([]);
    const again = await finish(pgfeed(['migrate'], { DATABASE_URL: db.url }));
    expect(again.stdout).toBe('up to date\n');
  });

  test("--demo adds the demo application's tables", async () => {
    const { code } = await finish(pgfeed(['migrate', '--demo'], { DATABASE_URL: db.url }));
    expect(code).toBe(0);
    const [table] = await db.sql`select to_regclass('public.trips')::text as name`;
    expect(table?.name).toBe('trips');
  });

  test('reads DATABASE_URL from .env in the current directory; the environment wins', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-dotenv-'));
    try {
      await writeFile(path.join(dir, '.env'), `# settings\nDATABASE_URL=${db.url}\n`);
      const fromFile = await finish(pgfeed(['migrate'], {}, dir));
      expect(fromFile).toMatchObject({ code: 0, stdout: 'up to date\n' });
      const port = await freePort();
      const overridden = await finish(pgfeed(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x` }, dir));
      expect(overridden.code).toBe(1);
      expect(overridden.stderr).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pgfeed start on a database of its own', () => {
  const db = emptyDatabaseHere();
  beforeAll(async () => {
    // The operator's tables, named like the demo's but of other shapes.
    await db.sql`create table companies (code text primary key, label text)`;
    await db.sql`create table users (email text primary key, company_code text references companies)`;
    await db.sql`create table orders (id bigint primary key, tenant text not null, buyer text, total numeric(10, 2))`;
  });

  test('creates nothing outside schema pgfeed, streams a watched table, and on SIGTERM closes everything and exits 0', async () => {
    const child = pgfeed(['start'], { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, PORT: '0', HOST: '127.0.0.1' });
    const done = finish(child);
    const port = Number((await waitForOutput(child, /"port":(\d+),"msg":"listening"/))[1]);
    expect(await outsideSchemaPgfeed(db.sql)).toEqual([
      'public.companies',
      'public.companies_pkey',
      'public.orders',
      'public.orders_pkey',
      'public.users',
      'public.users_pkey',
    ]);
    expect((await fetch(`http://127.0.0.1:${port}/dashboard`)).status).toBe(404); // no demo page

    await db.sql`select pgfeed.watch('public.orders', company_column => 'tenant', user_column => 'buyer')`;
    const token = await new Auth(TEST_JWT_SECRET).sign({ sub: 'ops', company: 't1', role: 'admin' });
    const stream = await openStream(`http://127.0.0.1:${port}/events/company/t1?entities=orders`, { token });
    await stream.waitFor((f) => f.event === 'ready');
    await db.sql`insert into orders (id, tenant, buyer, total) values (7, 't2', 'eve', 1.00), (8, 't1', 'bob', 12.50)`;
    const created = await stream.waitFor((f) => f.event === 'orders.created');
    expect(JSON.parse(created.data)).toMatchObject({
      entity: 'orders',
      companyId: 't1',
      key: '8',
      row: { id: '8', buyer: 'bob', total: '12.50' },
    });

    const [listening] =
      await db.sql`select count(*)::int as n from pg_stat_activity where application_name = 'pgfeed-listener' and datname = current_database()`;
    expect(listening?.n).toBe(1);
    const started = Date.now();
    child.kill('SIGTERM');
    await stream.ended;
    const { code, stdout } = await done;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stdout).toContain('"msg":"shutting down"');
    expect(stream.frames.filter((f) => f.event?.startsWith('orders.')).map((f) => JSON.parse(f.data).key)).toEqual(['8']);
    const [after] =
      await db.sql`select count(*)::int as n from pg_stat_activity where application_name like 'pgfeed%' and datname = current_database()`;
    expect(after?.n).toBe(0);
  }, 120_000);

  test('a taken embedded-PostgreSQL port is one line naming the port and the setting, exit 1', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-taken-'));
    await chmod(dir, 0o755); // the embedded server runs as the postgres user when we are root
    try {
      const { code, stderr, stdout } = await finish(
        pgfeed(['start'], { JWT_SECRET: TEST_JWT_SECRET, EMBEDDED_PG_PORT: String(port), DATA_DIR: path.join(dir, 'pg') }),
      );
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toBe(
        `pgfeed start failed: embedded PostgreSQL cannot use port ${port}: it is taken (another PostgreSQL or pgfeed?); set EMBEDDED_PG_PORT to a free port, or DATABASE_URL\n`,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('pgfeed demo', () => {
  const db = emptyDatabaseHere();

  test('--seed embedded (what npm start runs) migrates the demo tables of DATABASE_URL without seeding, and serves the demo', async () => {
    const child = pgfeed(['demo', '--seed', 'embedded'], {
      DATABASE_URL: db.url,
      JWT_SECRET: TEST_JWT_SECRET,
      PORT: '0',
      HOST: '127.0.0.1',
    });
    const done = finish(child);
    const port = Number((await waitForOutput(child, /"port":(\d+),"msg":"listening"/))[1]);
    const [companies] = await db.sql<{ n: number }[]>`select count(*)::int as n from companies`;
    expect(companies?.n).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/public/acme`)).status).not.toBe(404);
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
  });

  test('an unknown --seed is one line and exit code 2', async () => {
    const { code, stderr } = await finish(pgfeed(['demo', '--seed', 'sometimes']));
    expect(code).toBe(2);
    expect(stderr).toBe('pgfeed demo: --seed must be one of always, embedded, never (see pgfeed demo --help)\n');
  });
});

describe('npm start when nothing changed', () => {
  test('does not rebuild: its prestart leaves a fresh dist/ as it is', async () => {
    const bin = path.join(ROOT, 'dist', 'cli', 'index.js');
    const before = (await stat(bin)).mtimeMs;
    const { code } = await finish(spawn('npm', ['run', 'prestart'], { cwd: ROOT, env: cleanEnv({}) }));
    expect(code).toBe(0);
    expect((await stat(bin)).mtimeMs).toBe(before);
  });
});

describe('npm start with embedded PostgreSQL', () => {
  let dir: string;
  let started = new Map<number, string>();
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-npm-start-'));
    await chmod(dir, 0o755); // the embedded server runs as the postgres user when we are root
  });
  afterAll(async () => {
    // Whatever the outcome, leave nothing running: a failed run would orphan these.
    for (const pid of processTable().keys()) if (started.has(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('SIGTERM to npm stops everything it started: node and the embedded PostgreSQL', async () => {
    const dataDir = path.join(dir, 'pg');
    const port = await freePort();
    // --ignore-scripts skips prestart's build (global setup built dist/); the script itself still runs.
    const npm = spawn('npm', ['start', '--ignore-scripts'], {
      cwd: ROOT,
      env: cleanEnv({ PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) }),
    });
    const done = finish(npm);
    await waitForOutput(npm, /pgfeed demo is running/);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    started = processTree(npm.pid!);
    const commands = [...started.values()];
    expect(commands.some((c) => c.includes('dist/cli/index.js demo --seed embedded'))).toBe(true);
    expect(commands.some((c) => c.includes(`-D ${dataDir}`))).toBe(true);

    npm.kill('SIGTERM');
    // npm exits once its child's output closes: an orphaned node keeps it open, so npm would not exit at all.
    const exited = await Promise.race([done, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000))]);
    const running = processTable();
    const left = [...started].filter(([pid]) => running.has(pid)).map(([, c]) => c);
    const postgresOfDir = [...running.values()].filter((p) => p.cmdline.includes(dataDir));
    expect(left).toEqual([]);
    expect(postgresOfDir).toEqual([]);
    expect(exited).toMatchObject({ code: 0 });
  }, 120_000);
});
