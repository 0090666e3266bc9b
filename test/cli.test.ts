import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { Auth } from '../src/http/auth';
import { freshDatabase, type TestDatabase } from './support/db';
import { TEST_JWT_SECRET } from './support/service';
import { openStream } from './support/stream';

const ROOT = path.resolve(__dirname, '..');

function run(script: string, args: string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  // A clean environment: only what the test gives, so the machine's own settings do not leak in.
  // `node --import tsx` (as `npm start` does) is one process, so signals reach the service itself.
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
  });
}

function finish(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
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
      /^invalid configuration: JWT_SECRET is required/,
    ],
  ])('%s', async (_name, env, line) => {
    const { code, stderr, stdout } = await finish(run('src/main.ts', [], env));
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr.trim()).toMatch(line);
    expect(stdout).toBe('');
  });
});

describe('npm run token', () => {
  test('prints a token the service accepts', async () => {
    const { code, stdout } = await finish(
      run('scripts/token.ts', ['--sub', 'u1', '--company', 'acme', '--role', 'cashier'], { JWT_SECRET: TEST_JWT_SECRET }),
    );
    expect(code).toBe(0);
    const claims = await new Auth(TEST_JWT_SECRET).verify(stdout.trim());
    expect(claims).toMatchObject({ sub: 'u1', company: 'acme', role: 'cashier' });
  });
  test('refuses an unknown role with exit code 2', async () => {
    const { code, stderr } = await finish(
      run('scripts/token.ts', ['--sub', 'u1', '--company', 'acme', '--role', 'owner'], { JWT_SECRET: TEST_JWT_SECRET }),
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/role/);
  });
});

describe('npm start with DATABASE_URL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => db?.drop());

  test('serves, and on SIGTERM ends streams, closes the database and exits 0', async () => {
    const child = run('src/main.ts', [], { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, PORT: '0', HOST: '127.0.0.1' });
    const done = finish(child);
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"port":(\d+),"msg":"listening"/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    await db.sql`insert into companies (id, name) values ('acme', 'Acme')`;
    const token = await new Auth(TEST_JWT_SECRET).sign({ sub: 'alice', company: 'acme', role: 'admin' });
    const stream = await openStream(`http://127.0.0.1:${port}/events/company/acme`, { token });
    await stream.waitFor((f) => f.event === 'ready');
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
    const [after] =
      await db.sql`select count(*)::int as n from pg_stat_activity where application_name like 'pgfeed%' and datname = current_database()`;
    expect(after?.n).toBe(0);
  });
});
