import { randomUUID } from 'node:crypto';
import cors from 'cors';
import express, { type ErrorRequestHandler, type Express, type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import { AppError } from '../errors';
import type { Logger } from '../log';
import { type EventRoutesDeps, eventRoutes } from './routes/events';
import { opsRoutes } from './routes/ops';
import type { Listener } from '../listener/listener';

export type AppDeps = EventRoutesDeps & {
  listener: Listener;
  logger: Logger;
  maxBodyBytes: number;
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
  app.use(securityHeaders());
  if (deps.corsOrigins.length > 0) app.use(corsFor(deps.corsOrigins));
  app.use(opsRoutes(deps));
  app.use('/events', eventRoutes(deps));
  app.use(express.json({ limit: deps.maxBodyBytes }));
  for (const router of deps.routers) app.use(router);
  app.use((_req, _res, next) => next(new AppError('not_found', 'no such route')));
  app.use(errorHandler());
  return app;
}

/**
 * helmet's headers with a strict Content Security Policy: every script and
 * style is a file under /assets on this origin (no inline code, no
 * `unsafe-inline`), nothing may frame the pages, and EventSource/fetch reach
 * only this origin.
 */
function securityHeaders(): RequestHandler {
  return helmet({
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

/** A request id: the caller's `X-Request-Id` when it is a sane token, else a new one. */
function requestId(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[\w.:-]{1,128}$/.test(header) ? header : randomUUID();
}

/**
 * Gives every request a child logger carrying its id (echoed as
 * `X-Request-Id`) and writes one line per finished request. The path is
 * logged without its query string, so `access_token` never reaches a log.
 */
function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    const id = requestId(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', id);
    res.locals.log = logger.child({ requestId: id });
    res.once('close', () => {
      (res.locals.log as Logger).info(
        {
          method: req.method,
          path: req.originalUrl.split('?')[0],
          ip: req.ip,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'request',
      );
    });
    next();
  };
}

/** Maps errors to `{"error": {"code", "message"}}` with the code's status; unknown errors are 500 and logged with their stack. */
export function errorHandler(): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let error: AppError;
    if (err instanceof AppError) error = err;
    else if (isBodyParserError(err)) {
      error = new AppError(
        'invalid_body',
        err.type === 'entity.too.large' ? 'the body is too large' : 'the body is not valid JSON',
        { details: { issues: [] } },
      );
    } else {
      (res.locals.log as Logger).error({ err, method: req.method, path: req.path }, 'request failed');
      error = new AppError('internal', 'internal error', { cause: err });
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(error.status).json(error.toJSON());
  };
}

function isBodyParserError(err: unknown): err is { type: string } {
  return typeof err === 'object' && err !== null && typeof (err as { type?: unknown }).type === 'string' && 'status' in err;
}
