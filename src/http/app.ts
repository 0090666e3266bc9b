import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { isConnectionError } from '../db/errors';
import { AppError } from '../errors';
import type { Logger } from '../log';
import { eventRoutes, type EventRoutesDeps } from './routes/events';
import { opsRoutes } from './routes/ops';
import { apiRoutes, type ApiRoutesDeps } from './routes/api';
import { pageRoutes, type PageRoutesDeps } from './routes/pages';
import type { Listener } from '../listener/listener';

export type AppDeps = EventRoutesDeps & ApiRoutesDeps & PageRoutesDeps & { listener: Listener; log: Logger };

/** The express app: streams, snapshots and writes, pages, operations. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(accessLog(deps.log));
  app.use(opsRoutes(deps));
  app.use('/events', eventRoutes(deps));
  app.use('/api', express.json({ limit: '64kb' }), apiRoutes(deps));
  app.use(pageRoutes(deps));
  app.use((_req, _res, next) => next(new AppError('not_found', 'no such route')));
  app.use(errorHandler(deps.log));
  return app;
}

/**
 * One JSON line per finished request. The path is logged without its query
 * string, so `access_token` never reaches a log.
 */
function accessLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.once('close', () => {
      log.info('request', {
        method: req.method,
        path: req.originalUrl.split('?')[0],
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
      });
    });
    next();
  };
}

/** Maps errors to `{"error": {"code", "message"}}` with the code's status; unknown errors are 500 and logged. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let error: AppError;
    if (err instanceof AppError) error = err;
    else if (isBodyParserError(err)) {
      error = new AppError(
        'invalid_body',
        err.type === 'entity.too.large' ? 'the body is too large' : 'the body is not valid JSON',
        {
          details: { issues: [] },
        },
      );
    } else if (isConnectionError(err)) {
      log.warn('database unavailable', { error: err, method: req.method, path: req.path });
      error = new AppError('not_ready', 'the database is not reachable; retry shortly', { cause: err });
    } else {
      log.error('request failed', { error: err, method: req.method, path: req.path });
      error = new AppError('internal', 'internal error');
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
