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
type Logged = ServerResponse & { [ENTRY]?: AccessEntry; locals: object };

/** A request id: the caller's `X-Request-Id` when it is a sane token, else a new one. */
function requestId(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[\w.:-]{1,128}$/.test(header) ? header : randomUUID();
}

/**
 * The prototype of every response's `res.locals`: `log` is a child logger
 * carrying the request id, made when read (by a handler or the error
 * handler) and not kept. Defined on each response's own locals, the getter
 * was a closure, and a hidden class of its own, for as long as a stream lived.
 */
const LOCALS: object = Object.create(null, {
  log: {
    get(this: { [ENTRY]: AccessEntry }) {
      const entry = this[ENTRY];
      return entry.logger.child({ requestId: entry.requestId });
    },
    enumerable: true,
  },
});

/** The one close listener of every response (`this` is the response): no closure per request. */
function logClosed(this: Logged): void {
  const entry = this[ENTRY];
  if (entry) logAccess(entry, this, 'request');
}

/**
 * Echoes a request id (`X-Request-Id`) and writes one line per finished
 * request. The path is logged without its query string, so `access_token`
 * never reaches a log. The line is built from strings read at the start and
 * kept on the response (which outlives the request anyway), not from the
 * request, so a stream that stays open for hours keeps none of it alive
 * through the log; the listener is one function shared by every response.
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
    // express made res.locals empty a moment ago; ours reads the logger through LOCALS.
    const locals = Object.create(LOCALS) as Record<symbol, unknown>;
    locals[ENTRY] = entry;
    res.locals = locals;
    res.on('close', logClosed);
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
 * parsed URLs, route parameters, headers, the routers' `next` chain and the
 * rate limiter's record. The subscriber needs only the
 * response and the values the route already copied out.
 */
export function streamOpened(req: IncomingMessage, res: ServerResponse): void {
  const entry = (res as Logged)[ENTRY];
  if (entry) {
    logAccess(entry, res, 'stream opened');
  }
  // Assigned, not deleted: a deleted property turns the request into a hash table of its properties
  // (1.5 KB per stream). `next` holds the routers' closures; `rateLimit` is express-rate-limit's record.
  const r = req as unknown as Record<string, unknown>;
  r._parsedUrl = undefined;
  r._parsedOriginalUrl = undefined;
  r.params = EMPTY;
  r.rawHeaders = EMPTY_LIST;
  r.headers = EMPTY;
  r.next = undefined;
  r.rateLimit = undefined;
  r.route = undefined;
}

const EMPTY = Object.freeze({});
const EMPTY_LIST = Object.freeze([]);
