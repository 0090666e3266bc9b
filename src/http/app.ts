import cluster from 'node:cluster';
import cors from 'cors';
import express, { type ErrorRequestHandler, type Express, type RequestHandler, type Router } from 'express';
import { isConnectionError } from '../db/errors';
import helmet from 'helmet';
import { AppError } from '../errors';
import type { Logger } from '../log';
import { accessLog } from './access-log';
import { sameOriginWrites } from './csrf';
import { type EventRoutesDeps, eventRoutes } from './routes/events';
import { descriptionRoutes, healthRoute, opsRoutes } from './routes/ops';
import { type SnapshotRoutesDeps, snapshotRoutes } from './routes/snapshots';
import type { Listener } from '../listener/listener';
import type { Capture } from '../capture';
import type { Skips } from '../events/skips';

type RouteDeps = EventRoutesDeps & SnapshotRoutesDeps;

export type AppDeps = RouteDeps & {
  listener: Listener;
  /** Reported by /readyz (which path fills the log; in wal mode, whether this instance is the capturer). */
  capture?: Capture;
  /** Reported by /readyz: changes skipped (not captured, or not decodable), by kind. */
  skips?: Skips;
  logger: Logger;
  maxBodyBytes: number;
  /** Serve /readyz and /metrics here (else they are on the ops port, `createOpsApp`). */
  opsHere: boolean;
  /** Browser origins allowed by CORS (`*`: any); empty: same origin only. */
  corsOrigins: string[];
  /** The API's descriptions, served as /openapi.json and /asyncapi.json. */
  documents: { openapi: Record<string, unknown>; asyncapi: Record<string, unknown> };
  /** express's `trust proxy` setting. */
  trustProxy: boolean | number | string;
  /** The application's own routers (its API, pages), mounted after the core's. */
  routers: Router[];
};

/** The express app: operations, streams, then the application's routes. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.trustProxy);
  app.use(accessLog(deps.logger));
  if (cluster.isWorker) app.use(workerHeader(cluster.worker!.id));
  app.use(securityHeaders());
  if (deps.corsOrigins.length > 0) app.use(corsFor(deps.corsOrigins));
  // The streams first: the most frequent requests match their router at once. No body parser
  // runs for them (it is mounted below, for the application's routes).
  app.use('/events', eventRoutes(deps));
  app.use(deps.opsHere ? opsRoutes(deps) : healthRoute());
  app.use(descriptionRoutes(deps.documents));
  app.use('/snapshots', snapshotRoutes(deps));
  app.use(sameOriginWrites());
  app.use(express.json({ limit: deps.maxBodyBytes }));
  for (const router of deps.routers) app.use(router);
  app.use((_req, _res, next) => next(new AppError('not_found', 'no such route')));
  app.use(errorHandler());
  return app;
}

/** The app of the separate operations port (OPS_PORT): /healthz, /readyz, /metrics only. */
export function createOpsApp(deps: Pick<AppDeps, 'listener' | 'metrics' | 'logger' | 'capture' | 'skips'>): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(accessLog(deps.logger));
  app.use(opsRoutes(deps));
  app.use((_req, _res, next) => next(new AppError('not_found', 'no such route')));
  app.use(errorHandler());
  return app;
}

/** Under `pgfeed start --workers`, which worker answered: operators (and tests) see a resume land on another. */
function workerHeader(id: number): RequestHandler {
  const value = String(id);
  return (_req, res, next) => {
    res.setHeader('X-Pgfeed-Worker', value);
    next();
  };
}

/**
 * helmet's headers with a strict Content Security Policy: every script and
 * style is a file under /assets on this origin (no inline code, no
 * `unsafe-inline`), nothing may frame the pages, and EventSource/fetch reach
 * only this origin.
 */
function securityHeaders(): RequestHandler {
  const headers = helmetHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'object-src': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
      },
    },
    xFrameOptions: { action: 'deny' },
  });
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/**
 * The headers helmet sets with these options, computed once: they depend on
 * nothing in the request (no nonces), and running helmet's dozen middleware
 * per request was a tenth of the CPU of opening a stream. `x-powered-by` is
 * already off (`app.disable`), which is all helmet would remove.
 */
function helmetHeaders(options: Parameters<typeof helmet>[0]): [string, string][] {
  const headers: [string, string][] = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => headers.push([name, String(value)]),
    removeHeader: () => {},
  };
  let done = false;
  helmet(options)({} as never, recorder as never, (err?: unknown) => {
    if (err) throw err;
    done = true;
  });
  if (!done) throw new Error('helmet did not finish synchronously');
  return headers;
}

/**
 * CORS for the API and the streams: allowed origins may send the token as a
 * header and `Last-Event-ID` (EventSource and the client resume with it), and
 * read the request id and `Retry-After`. Cookies are not shared across origins.
 */
function corsFor(origins: string[]): RequestHandler {
  return cors({
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'HEAD', 'POST', 'PATCH'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'X-Request-Id'],
    exposedHeaders: ['X-Request-Id', 'Retry-After', 'RateLimit', 'RateLimit-Policy'],
    maxAge: 600,
  });
}

/**
 * Maps errors to `{"error": {"code", "message"}}` with the code's status. A
 * request PostgreSQL or the HTTP layer found malformed is the client's
 * mistake: a 400, logged at warn. Anything else is a 500, logged with its stack.
 */
export function errorHandler(): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const log = res.locals.log as Logger;
    const error = asAppError(err);
    if (!error) log.error({ err, method: req.method, path: req.path }, 'request failed');
    else if (!(err instanceof AppError)) {
      log.warn(
        { err, method: req.method, path: req.path },
        error.code === 'not_ready' ? 'database unavailable' : 'malformed request',
      );
    }
    const shown = error ?? new AppError('internal', 'internal error', { cause: err });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (shown.code === 'not_ready') res.setHeader('Retry-After', '1');
    res.status(shown.status).json(shown.toJSON());
  };
}

/** SQLSTATE class 22, data exception: a value PostgreSQL cannot take (out of range, bad encoding, …). */
const PG_DATA_EXCEPTION = /^22/;

function asAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  // The database went away mid-request (a restart, a failover): the client should retry.
  if (isConnectionError(err)) return new AppError('not_ready', 'the database is not reachable; retry shortly', { cause: err });
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { type?: unknown; status?: unknown; code?: unknown };
  // body-parser and the router (a path that is not valid percent-encoded UTF-8) raise http-errors.
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    if (e.type === 'entity.too.large') return new AppError('invalid_body', 'the body is too large', { details: { issues: [] } });
    if (typeof e.type === 'string')
      return new AppError('invalid_body', 'the body is not valid JSON', { details: { issues: [] } });
    return new AppError('invalid_params', 'the request path or parameters are malformed', { cause: err });
  }
  if (err instanceof URIError) return new AppError('invalid_params', 'the request path is not valid UTF-8', { cause: err });
  if (typeof e.code === 'string' && PG_DATA_EXCEPTION.test(e.code)) {
    return new AppError('invalid_params', 'a value is out of range or not valid text', { cause: err });
  }
  return undefined;
}
