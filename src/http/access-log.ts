import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from '../log';

/** What the access line of a request says, kept as plain strings: no reference to the request itself. */
interface AccessEntry {
  requestId: string;
  method: string;
  path: string;
  ip: string | undefined;
  started: number;
  logger: Logger;
}

const ENTRY = Symbol('pgfeed.access');
type Logged = ServerResponse & { [ENTRY]?: AccessEntry };

/** A request id: the caller's `X-Request-Id` when it is a sane token, else a new one. */
function requestId(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[\w.:-]{1,128}$/.test(header) ? header : randomUUID();
}

/**
 * Echoes a request id (`X-Request-Id`) and writes one line per finished
 * request. The path is logged without its query string, so `access_token`
 * never reaches a log. The line is built from strings read at the start:
 * the close handler holds the response (which outlives it anyway), not the
 * request, so a stream that stays open for hours keeps none of it alive
 * through the log. `res.locals.log` (a child logger carrying the id) is made
 * only when a handler or the error handler logs, and is not kept.
 */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const entry: AccessEntry = {
      requestId: requestId(req.headers['x-request-id']),
      method: req.method,
      path: req.originalUrl.split('?')[0]!,
      ip: req.ip,
      started: performance.now(),
      logger,
    };
    res.setHeader('X-Request-Id', entry.requestId);
    (res as Logged)[ENTRY] = entry;
    Object.defineProperty(res.locals, 'log', {
      get: () => logger.child({ requestId: entry.requestId }),
      configurable: true,
      enumerable: true,
    });
    res.once('close', () => {
      logAccess(entry, res, 'request');
    });
    next();
  };
}

/** One access line: what the entry copied from the request, the status and the time so far. */
function logAccess(entry: AccessEntry, res: ServerResponse, message: string): void {
  const { requestId, method, path, ip, started } = entry;
  entry.logger.info(
    { requestId, method, path, ip, status: res.statusCode, ms: Math.round(performance.now() - started) },
    message,
  );
}

/**
 * A stream is open (its head and `ready` are written): logs an access line
 * now (`stream opened`; the `request` line follows when it closes), and
 * releases what the request still holds that nothing reads any more — the
 * parsed URLs, route parameters and headers. The subscriber needs only the
 * response and the values the route already copied out.
 */
export function streamOpened(req: IncomingMessage, res: ServerResponse): void {
  const entry = (res as Logged)[ENTRY];
  if (entry) {
    logAccess(entry, res, 'stream opened');
  }
  const r = req as unknown as Record<string, unknown>;
  delete r._parsedUrl;
  delete r._parsedOriginalUrl;
  r.params = EMPTY;
  r.rawHeaders = [];
  r.headers = EMPTY;
}

const EMPTY = Object.freeze({});
