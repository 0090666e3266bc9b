import type { Request, RequestHandler } from 'express';
import { AppError } from '../errors';
import { TOKEN_COOKIE, readCookie } from './auth';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses a write authenticated by the session cookie unless the browser says
 * it comes from this service's own origin. SameSite=Lax does not stop a sister
 * site (another port or subdomain of the same site) from POSTing a form with
 * the cookie, so the request's `Sec-Fetch-Site` must be `same-origin` and its
 * `Origin` (sent with every cross-origin and every non-GET fetch by current
 * browsers) must be this service's. A request with neither header is not from
 * a browser (curl, a server) and cannot ride a victim's cookie. Requests with
 * an `Authorization` header do not use the cookie and pass.
 */
export function sameOriginWrites(): RequestHandler {
  return (req, _res, next) => {
    if (SAFE_METHODS.has(req.method) || req.headers.authorization !== undefined) return next();
    if (readCookie(req.headers.cookie, TOKEN_COOKIE) === undefined) return next();
    const refusal = crossOrigin(req);
    next(refusal ? new AppError('cross_origin', refusal) : undefined);
  };
}

/** Why a cookie-carrying write looks cross-origin, or undefined when it is the service's own. */
function crossOrigin(req: Request): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') {
    return `a write with the session cookie must come from this service's own pages (Sec-Fetch-Site: ${String(site)})`;
  }
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  let host: string | undefined;
  try {
    host = origin === 'null' ? undefined : new URL(origin).host;
  } catch {
    host = undefined;
  }
  // Behind a proxy, Host is what the browser asked for as long as the proxy preserves it (the usual setting).
  if (host === undefined || host !== req.headers.host) {
    return `a write with the session cookie must come from this service's own pages (Origin: ${origin})`;
  }
  return undefined;
}
