/**
 * `npm start`: validate configuration, migrate, serve. Without DATABASE_URL it
 * runs an embedded PostgreSQL in DATA_DIR, seeds a demo company and prints
 * the pages and ready-made tokens.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from './config';
import { connect } from './db/connect';
import { type EmbeddedServer, startEmbedded } from './db/embedded';
import { migrate } from './db/migrate';
import { seedDemo } from './db/seed';
import { createLogger } from './log';
import { startPgfeed } from './server';

const EMBEDDED_PORT = Number(process.env.EMBEDDED_PG_PORT ?? 54329);

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    if (config.DATABASE_URL && !config.JWT_SECRET) {
      throw new ConfigError('invalid configuration: JWT_SECRET is required when DATABASE_URL is set');
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.LOG_LEVEL);
  let embedded: EmbeddedServer | undefined;
  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    embedded = await startEmbedded({ dir: config.DATA_DIR, port: EMBEDDED_PORT });
    databaseUrl = embedded.url();
    log.info('embedded postgres started', { dir: config.DATA_DIR, port: EMBEDDED_PORT });
  }
  const demo = config.DEMO ?? embedded !== undefined;
  const jwtSecret = config.JWT_SECRET ?? randomBytes(32).toString('hex');

  const sql = connect(databaseUrl, { max: 1 });
  await migrate(sql);
  const seeded = demo ? await seedDemo(sql) : undefined;
  await sql.end();

  const server = await startPgfeed({ databaseUrl, jwtSecret, log, migrate: false });

  if (seeded) {
    const lines = [
      '',
      'pgfeed demo is running.',
      `  database:   ${databaseUrl}`,
      ...(config.JWT_SECRET
        ? []
        : [`  JWT_SECRET: ${jwtSecret}   (generated; set JWT_SECRET to keep tokens valid across restarts)`]),
    ];
    const tokens: Record<string, string> = {};
    for (const u of seeded.users)
      tokens[u.role] = await server.auth.sign({ sub: u.id, company: seeded.companyId, role: u.role }, 7 * 86400);
    lines.push(
      `  dashboard:  ${server.url}/dashboard?access_token=${tokens.admin}`,
      `  cashier:    ${server.url}/cashier?access_token=${tokens.cashier}`,
      `  public:     ${server.url}/public/${seeded.companyId}`,
      '',
      'Tokens (7 days):',
      ...seeded.users.map((u) => `  ${u.role.padEnd(9)} ${u.id.padEnd(6)} ${tokens[u.role]}`),
      '',
      'Try:',
      `  curl -N -H "Authorization: Bearer ${tokens.admin}" ${server.url}/events/company/${seeded.companyId}`,
      `  psql ${databaseUrl} -c "update trips set available_slots = available_slots - 1 where id = 'trip-1'"`,
      '',
    );
    process.stdout.write(lines.join('\n') + '\n');
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    const hard = setTimeout(() => process.exit(1), 9500);
    hard.unref();
    server
      .close()
      .then(() => embedded?.stop())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        log.error('shutdown failed', { error });
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
