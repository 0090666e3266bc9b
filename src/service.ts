import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Request, Router } from 'express';
import type postgres from 'postgres';
import { type Config, ConfigError, type ConfigInput, parseConfig } from './config';
import { connect, type Sql } from './db/connect';
import { migrate } from './db/migrate';
import { type Capture, type CaptureStatus, createCapture } from './capture';
import { EntityCatalog, watchedRowSchema } from './events/catalog';
import { type Entities, type EntityDefinition, EntityRegistry } from './events/entity';
import { EventLog } from './events/log';
import { snapshot } from './events/snapshot';
import { formatPosition } from './events/position';
import { Pruner } from './events/pruner';
import { Skips } from './events/skips';
import type { ChangeEvent } from './events/schema';
import { createApp, createOpsApp } from './http/app';
import { Auth, type Authorize, type Claims, type TokenClaims, authOptions, companyStreamRoles } from './http/auth';
import { CORE_OPERATIONS, type Operation, openApiDocument } from './http/openapi';
import { HttpServer } from './http/server';
import { Listener, type ListenerState } from './listener/listener';
import { readiness } from './health';
import { createLogger, type Logger } from './log';
import { createMetrics } from './metrics';
import { Feed } from './streams/feed';
import { asyncApiDocument } from './streams/asyncapi';
import { RowRenderer } from './streams/html';

/** What an application's routes get from pgfeed. */
export interface RouteContext {
  /** The query pool. */
  sql: Sql;
  config: Config;
  logger: Logger;
  entities: Entities;
  /** Renders rows of the registered entities exactly as `format=html` fragments do. */
  renderer: RowRenderer;
  /** The verified claims of the request's token (header, cookie or `access_token`); 401 otherwise. */
  authenticate(req: Request): Promise<Claims>;
  /** Verifies a token given directly; 401 when it is not valid. */
  verify(token: string | undefined): Promise<Claims>;
  /**
   * Runs `read` in one REPEATABLE READ, read-only transaction (TimeZone UTC)
   * and returns what it read with the log position it reflects: subscribing
   * from `lastEventId` delivers exactly the changes not yet in it.
   */
  snapshot<T>(read: (tx: postgres.TransactionSql) => Promise<T>): Promise<{ result: T; lastEventId: string }>;
  /** Aborted when the service stops: end with it what the routes started (timers, stores such as `perMinuteLimit`'s). */
  stopped: AbortSignal;
}

export interface PgfeedOptions {
  databaseUrl: string;
  /** The tables whose changes are streamed; each gets the capture trigger at start (`pgfeed.watch`). */
  entities?: readonly EntityDefinition[];
  /** The application's routes (API, pages), mounted after pgfeed's own. */
  routes?: (context: RouteContext) => Router[];
  /** Descriptions of those routes for /openapi.json (pgfeed describes its own). */
  operations?: Operation[];
  /** Settings (names as the environment's); the rest are defaults. The library never reads process.env. */
  config?: ConfigInput;
  /** A logger; default: JSON lines on stdout at LOG_LEVEL. */
  logger?: Logger;
  /**
   * Who may read which stream (false: 403), after pgfeed's check that the token's tenant is the
   * stream's company. Default: company streams for COMPANY_STREAM_ROLES, a user's own stream for any token.
   */
  authorize?: Authorize;
  /** Apply pgfeed's migrations first (default true). */
  migrate?: boolean;
}

export interface PgfeedStatus {
  ready: boolean;
  /** Why not ready (the listener's last error, or capture failing), while not. */
  reason?: string;
  listener: ListenerState;
  /** The newest position this instance has delivered. */
  position: string;
  /** Open streams. */
  streams: number;
  /** How the log is filled; in wal mode, whether this instance holds the slot. */
  capture: CaptureStatus;
}

export interface PgfeedEvents {
  /** The listener's state changed (connecting, catching_up, live, stopped). */
  state: [ListenerState];
  /** An event reached this instance, in commit order. */
  event: [ChangeEvent];
}

/** A running pgfeed: its address, its status, and a way to stop it. */
export interface Pgfeed {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly port: number;
  /** The operations port's base URL, when OPS_PORT is set. */
  readonly opsUrl: string | undefined;
  readonly config: Config;
  status(): PgfeedStatus;
  /** Open streams of one user: token subject `subject` of company `companyId`. */
  streamsOf(companyId: string, subject: string): number;
  /** The Prometheus text /metrics serves. */
  metrics(): Promise<string>;
  /** A token signed with this instance's HS256 secret (JWT_SECRET), for development and tests. */
  signToken(claims: TokenClaims, ttlSeconds?: number): Promise<string>;
  /** Stops accepting, ends streams (clients reconnect elsewhere), closes the database; idempotent. */
  close(): Promise<void>;
  /** `state`: the listener's state changed; `event`: an event reached this instance, in commit order. */
  on<K extends keyof PgfeedEvents>(name: K, listener: (...args: PgfeedEvents[K]) => void): this;
  once<K extends keyof PgfeedEvents>(name: K, listener: (...args: PgfeedEvents[K]) => void): this;
  off<K extends keyof PgfeedEvents>(name: K, listener: (...args: PgfeedEvents[K]) => void): this;
}

/** The one implementation of Pgfeed; its constructor takes internal parts, so it stays out of the entry. */
class RunningPgfeed extends EventEmitter<PgfeedEvents> implements Pgfeed {
  readonly url: string;
  readonly port: number;
  readonly opsUrl: string | undefined;
  readonly config: Config;

  constructor(
    private readonly parts: {
      config: Config;
      http: HttpServer;
      ops: HttpServer | undefined;
      listener: Listener;
      capture: Capture;
      feed: Feed;
      auth: Auth;
      metrics: ReturnType<typeof createMetrics>;
    },
    private readonly shutdown: () => Promise<void>,
  ) {
    super();
    this.config = parts.config;
    this.url = parts.http.url;
    this.port = parts.http.port;
    this.opsUrl = parts.ops?.url;
    parts.listener.on('state', (s) => this.emit('state', s));
    parts.listener.on('event', (e) => this.emit('event', e));
  }

  status(): PgfeedStatus {
    const { listener, feed, capture } = this.parts;
    return {
      ...readiness(listener, capture),
      listener: listener.state,
      position: formatPosition(listener.position),
      streams: feed.registry.size,
      capture: this.parts.capture.status(),
    };
  }

  streamsOf(companyId: string, subject: string): number {
    return this.parts.feed.registry.countFor(companyId, subject);
  }

  metrics(): Promise<string> {
    return this.parts.metrics.registry.metrics();
  }

  signToken(claims: TokenClaims, ttlSeconds = 3600): Promise<string> {
    return this.parts.auth.sign(claims, ttlSeconds);
  }

  close(): Promise<void> {
    return this.shutdown();
  }
}

/**
 * The OpenAPI and AsyncAPI documents of this service: pgfeed's routes and the
 * application's, the events and rows of the registered entities and of the
 * tables watched from SQL alone (read from the catalog, so rebuilt when it changes).
 */
function describe(entities: EntityRegistry, operations: Operation[], catalog: EntityCatalog) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require('../package.json') as { version: string };
  const info = { title: 'pgfeed', version };
  let built: { generation: number; openapi: Record<string, unknown>; asyncapi: Record<string, unknown> } | undefined;
  const current = () => {
    if (built?.generation !== catalog.generation) {
      const watched = catalog.sqlOnly();
      const rows = Object.fromEntries([
        ...entities.all().map((e) => [e.name, e.row] as const),
        ...watched.map((e) => [e.name, watchedRowSchema(e)] as const),
      ]);
      built = {
        generation: catalog.generation,
        openapi: openApiDocument([...CORE_OPERATIONS, ...operations], info, rows),
        asyncapi: asyncApiDocument(entities, info, watched),
      };
    }
    return built;
  };
  return {
    get openapi() {
      return current().openapi;
    },
    get asyncapi() {
      return current().asyncapi;
    },
  };
}

/**
 * Starts pgfeed in-process: for the service's own `npm start` and for other
 * people's integration tests. One owner starts the parts in order (pool,
 * listener, feed, pruner, HTTP) and stops them in reverse under one budget.
 */
export async function startPgfeed(options: PgfeedOptions): Promise<Pgfeed> {
  const config = parseConfig({ ...options.config, DATABASE_URL: options.databaseUrl });
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const entities = new EntityRegistry(options.entities ?? []);
  // A made-up secret would turn every token from elsewhere into a 401 with nothing saying why.
  if (config.JWT_SECRET === undefined && config.JWKS_URL === undefined)
    throw new ConfigError('invalid configuration: JWT_SECRET (or JWKS_URL) is required: tokens are verified with it');
  // With JWKS_URL alone, HS256 gets a key nobody knows: only the identity provider's tokens verify.
  const auth = new Auth(config.JWT_SECRET ?? randomBytes(32).toString('hex'), authOptions(config));
  const metrics = createMetrics();
  const sql = connect(options.databaseUrl, { max: config.DB_POOL_SIZE, onQuery: () => metrics.dbQueries.inc() });
  // Each part started pushes its stop; stopping runs them newest first.
  const stops: ((deadline: number) => Promise<void> | void)[] = [
    (deadline) => sql.end({ timeout: Math.max(0.1, (deadline - Date.now()) / 1000) }),
  ];
  // What routes keep until the service stops (rate limiters' stores) ends with it.
  const stopped = new AbortController();
  stops.push(() => stopped.abort());
  const stopAll = async (budgetMs: number) => {
    const deadline = Date.now() + budgetMs;
    for (const stop of stops.reverse()) {
      // A part that does not stop in time is left behind, so the budget holds for the rest.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
      await Promise.race([Promise.resolve(stop(deadline)).catch((err: unknown) => logger.warn({ err }, 'stop failed')), late]);
      clearTimeout(timer);
    }
  };
  try {
    if (options.migrate !== false) {
      const applied = await migrate(sql);
      if (applied.length > 0) logger.info({ applied }, 'migrated');
    }
    const skips = new Skips(metrics, logger);
    const capture = createCapture({ config, databaseUrl: options.databaseUrl, sql, entities, logger, metrics, skips });
    stops.push(() => capture.stop());
    await capture.start();

    const log = new EventLog(sql, entities, skips);
    const from = await log.head();
    const listener = new Listener({
      // LISTEN needs a session of its own: past a pooler in transaction mode, a direct route (docs/operations.md).
      databaseUrl: config.LISTENER_DATABASE_URL ?? options.databaseUrl,
      sql,
      log,
      skips,
      logger,
      metrics,
      from,
      pingMs: config.LISTENER_PING_MS,
      backoff: { minMs: config.LISTENER_BACKOFF_MIN_MS, maxMs: config.LISTENER_BACKOFF_MAX_MS },
      catchUpBatch: config.CATCH_UP_BATCH,
    });
    const renderer = new RowRenderer(entities);
    const catalog = new EntityCatalog(sql, entities, {
      pollMs: config.CATALOG_POLL_MS,
      onRefreshError: (err) => logger.warn({ err }, 'reading the watched tables failed; keeping the last read'),
      onRead: (reason) => metrics.catalogReads.inc({ reason }),
    });
    // What is watched changed (pgfeed.watch() and its kin NOTIFY at commit), or the listener LISTENs
    // anew: a change made while it was away, or before its first LISTEN, sent a NOTIFY nobody heard.
    listener.on('catalog', () => catalog.reread('notify'));
    listener.on('state', (state) => {
      if (state === 'catching_up') catalog.reread('listen');
    });
    stops.push(() => catalog.stop());
    await catalog.start();
    const feed = new Feed({
      log,
      catalog,
      presentation: { entities: catalog, renderer },
      metrics,
      from,
      ringSize: config.REPLAY_BUFFER_SIZE,
      heartbeatMs: config.HEARTBEAT_MS,
      retryMs: config.RETRY_MS,
      maxConnections: config.MAX_CONNECTIONS,
      maxConnectionsPerUser: config.MAX_CONNECTIONS_PER_USER,
      maxAnonymous: config.MAX_ANONYMOUS_CONNECTIONS ?? Math.floor(config.MAX_CONNECTIONS / 2),
      maxAnonymousPerIp: config.MAX_ANONYMOUS_CONNECTIONS_PER_IP,
      slowClientMaxBytes: config.SLOW_CLIENT_MAX_BYTES,
      ringBytes: config.REPLAY_BUFFER_BYTES,
      replayPage: config.REPLAY_PAGE_SIZE,
      maxReplays: config.MAX_CONCURRENT_REPLAYS,
      stallMs: config.STALLED_STREAM_MS,
    });
    listener.on('event', feed.publish);
    listener.paceWith(() => feed.idle());
    capture.deliverOwnTo?.((events) => listener.deliverOwn(events));
    metrics.gauge('pgfeed_connections', 'Open event streams.', () => feed.registry.size);
    metrics.gauge('pgfeed_replay_buffer_events', 'Events held in the replay ring.', () => feed.ringUsage.events);
    metrics.gauge('pgfeed_replay_buffer_bytes', 'Bytes of events held in the replay ring.', () => feed.ringUsage.bytes);
    metrics.gauge('pgfeed_listener_ready', '1 while the listener is LISTENing and caught up.', () => (listener.ready ? 1 : 0));
    metrics.gauge('pgfeed_ready', '1 while /readyz answers 200 (listener live, capture not failing).', () =>
      readiness(listener, capture).ready ? 1 : 0,
    );
    const pruner = new Pruner({
      log,
      retentionMs: config.EVENT_RETENTION,
      intervalMs: config.PRUNE_INTERVAL_MS,
      batch: config.PRUNE_BATCH,
      logger,
      metrics,
    });

    const context: RouteContext = {
      sql,
      config,
      logger,
      entities,
      renderer,
      authenticate: (req) => auth.fromRequest(req),
      verify: (token) => auth.verify(token),
      snapshot: (read) => snapshot(sql, read),
      stopped: stopped.signal,
    };
    const app = createApp({
      auth,
      authorize: options.authorize ?? companyStreamRoles(config.COMPANY_STREAM_ROLES),
      feed,
      catalog,
      sql,
      entities,
      metrics,
      listener,
      capture,
      skips,
      logger,
      rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
      stopped: stopped.signal,
      maxBodyBytes: config.MAX_BODY_BYTES,
      opsHere: config.OPS_PORT === undefined,
      corsOrigins: config.CORS_ORIGINS,
      documents: describe(entities, options.operations ?? [], catalog),
      trustProxy: config.TRUST_PROXY,
      routers: options.routes?.(context) ?? [],
    });
    const http = new HttpServer(app, {
      port: config.PORT,
      host: config.HOST,
      beforeClose: () => feed.endStreams(),
      keepAliveMs: config.HTTP_KEEP_ALIVE_MS,
      backlog: config.LISTEN_BACKLOG,
    });

    stops.push(() => listener.stop());
    await listener.start();
    stops.push(() => feed.stop());
    feed.start();
    stops.push(() => pruner.stop());
    pruner.start();
    stops.push((deadline) => http.stop(deadline));
    await http.start();
    const ops =
      config.OPS_PORT === undefined
        ? undefined
        : new HttpServer(createOpsApp({ listener, metrics, logger, capture, skips }), {
            port: config.OPS_PORT,
            host: config.HOST,
            beforeClose: () => {},
          });
    if (ops) {
      stops.push((deadline) => ops.stop(deadline));
      await ops.start();
    }

    let closing: Promise<void> | undefined;
    const handle = new RunningPgfeed(
      { config, http, ops, listener, capture, feed, auth, metrics },
      () => (closing ??= stopAll(config.SHUTDOWN_TIMEOUT_MS)),
    );
    logger.info({ port: http.port }, 'listening');
    return handle;
  } catch (error) {
    await stopAll(2000);
    throw error;
  }
}
