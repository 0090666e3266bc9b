import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { type Config, loadConfig } from './config';
import { connect, type Sql } from './db/connect';
import { migrate } from './db/migrate';
import { logHead, pruneLog } from './events/log';
import { createApp } from './http/app';
import { Auth } from './http/auth';
import { EntityCatalog } from './http/entities';
import { Listener } from './listener/listener';
import { createLogger, type Logger } from './log';
import { createMetrics, type ServiceMetrics } from './metrics';
import { Feed } from './streams/feed';

export interface PgfeedOptions {
  databaseUrl: string;
  /** 0 picks a free port. Default: PORT from the environment, else 8080. */
  port?: number;
  host?: string;
  /** HS256 secret. Default: JWT_SECRET, else a random one (see `server.auth.sign`). */
  jwtSecret?: string;
  /** Any configuration value; the rest comes from the environment and defaults. */
  config?: Partial<Config>;
  /** A logger, or a level for the built-in JSON logger. Default: LOG_LEVEL. */
  log?: Logger | Config['LOG_LEVEL'];
  /** Apply sql/ migrations first (default true). */
  migrate?: boolean;
}

/** A running pgfeed. */
export interface PgfeedServer {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  config: Config;
  auth: Auth;
  sql: Sql;
  feed: Feed;
  listener: Listener;
  metrics: ServiceMetrics;
  /** Stops accepting, ends streams (clients reconnect elsewhere), closes the database. */
  close(): Promise<void>;
}

/** Starts pgfeed in-process: for `npm start` and for other people's integration tests. */
export async function startPgfeed(options: PgfeedOptions): Promise<PgfeedServer> {
  const config: Config = {
    ...loadConfig(process.env),
    ...options.config,
    DATABASE_URL: options.databaseUrl,
    ...(options.port !== undefined ? { PORT: options.port } : {}),
    ...(options.host !== undefined ? { HOST: options.host } : {}),
  };
  const log = typeof options.log === 'object' ? options.log : createLogger(options.log ?? config.LOG_LEVEL);
  const secret = options.jwtSecret ?? config.JWT_SECRET ?? randomBytes(32).toString('hex');
  const metrics = createMetrics();
  const sql = connect(options.databaseUrl, { max: config.DB_POOL_SIZE, onQuery: () => metrics.dbQueries() });
  try {
    if (options.migrate !== false) {
      const applied = await migrate(sql);
      if (applied.length > 0) log.info('migrated', { applied });
    }
    const listener = new Listener({ databaseUrl: options.databaseUrl, sql, log, metrics, pingMs: config.LISTENER_PING_MS });
    const feed = new Feed({ sql, listener, metrics, ringSize: config.REPLAY_BUFFER_SIZE, heartbeatMs: config.HEARTBEAT_MS });
    metrics.registry.gauge('pgfeed_connections', 'Open event streams.', () => feed.registry.size);
    metrics.registry.gauge('pgfeed_listener_ready', '1 while the listener is LISTENing and caught up.', () =>
      listener.ready ? 1 : 0,
    );
    await feed.start(await logHead(sql));

    const auth = new Auth(secret);
    const app = createApp({ config, auth, feed, sql, listener, log, metrics, entities: new EntityCatalog(sql) });
    const server = http.createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.PORT, config.HOST, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;

    const pruner = setInterval(() => {
      pruneLog(sql, config.EVENT_RETENTION)
        .then((n) => n > 0 && (metrics.pruned(n), log.info('pruned events', { count: n })))
        .catch((error: unknown) => log.warn('prune failed', { error }));
    }, config.PRUNE_INTERVAL_MS);
    pruner.unref();

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        clearInterval(pruner);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        feed.closeAll();
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), 5000);
        force.unref();
        await stopped;
        clearTimeout(force);
        await listener.stop();
        await sql.end({ timeout: 5 });
      })());

    log.info('listening', { port });
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
      port,
      config,
      auth,
      sql,
      feed,
      listener,
      metrics,
      close,
    };
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
}
