/** A real PgBouncer in front of the test database server, for tests of pgfeed behind a pooler. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './toolkit';

const PGBOUNCER = '/usr/sbin/pgbouncer';

export interface PgBouncer {
  /** `databaseUrl` with host and port replaced by PgBouncer's (and `prepare=false`: it keeps no prepared statements). */
  url: string;
  /** Switches the pool mode for new connections (rewrites the configuration and reloads it). */
  setMode(mode: 'transaction' | 'session'): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts PgBouncer (Debian's package, which .ci/run installs) on a free port
 * with its own configuration in a temporary directory, in `mode`, in front of
 * `databaseUrl`'s server. It refuses to run as root, so as root it is started
 * with `-u postgres`. Fails with a clear message when it is not installed.
 */
export async function startPgBouncer(databaseUrl: string, mode: 'transaction' | 'session'): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER)) {
    throw new Error(`${PGBOUNCER} is missing: install Debian's pgbouncer package (.ci/run does: apt-get install -y pgbouncer)`);
  }
  const target = new URL(databaseUrl);
  const user = decodeURIComponent(target.username || 'postgres');
  const password = decodeURIComponent(target.password);
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-pgbouncer-'));
  await chmod(dir, 0o755);
  const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;
  await writeFile(path.join(dir, 'userlist.txt'), `"${user}" "${password}"\n`, { mode: 0o644 });
  const configure = (pool: string) =>
    writeFile(
      path.join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `* = host=${target.hostname} port=${target.port || 5432} user=${user}${password ? ` password=${quote(password)}` : ''}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${path.join(dir, 'userlist.txt')}`,
        `pool_mode = ${pool}`,
        'default_pool_size = 20',
        'max_client_conn = 200',
        'ignore_startup_parameters = extra_float_digits',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
  await configure(mode);
  const args = process.getuid?.() === 0 ? ['-u', 'postgres'] : [];
  const child: ChildProcess = spawn(PGBOUNCER, [...args, path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`listening on 127.0.0.1:${port}`)) resolve();
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    child.once('exit', (code) => reject(new Error(`pgbouncer exited (${code}) before listening:\n${output}`)));
    child.once('error', reject);
  });
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  url.searchParams.set('prepare', 'false');
  return {
    url: url.toString(),
    async setMode(next) {
      await configure(next);
      const reloaded = new Promise<void>((resolve) => {
        const seen = (chunk: Buffer) => {
          if (!chunk.toString().includes('SIGHUP')) return;
          child.stdout?.off('data', seen);
          child.stderr?.off('data', seen);
          resolve();
        };
        child.stdout?.on('data', seen);
        child.stderr?.on('data', seen);
      });
      child.kill('SIGHUP');
      await reloaded;
    },
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
