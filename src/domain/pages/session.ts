import type { Request, Response } from 'express';
import { TOKEN_COOKIE, html, readCookie } from '../../express';
import { AppError, type Claims, type RouteContext } from '../../index';
import { page } from './layout';

/** Answers with a small page; private pages are not kept by caches or the back-forward cache. */
export function sendPage(res: Response, status: number, body: string): void {
  res.status(status).set('Cache-Control', 'no-store').type('html').send(body);
}

function refuse(res: Response, reason: string): undefined {
  sendPage(
    res,
    401,
    page(
      'Sign in',
      html`<h1>Sign in</h1>
        <p>${reason}.</p>
        <p>
          Open this page once with <code>?access_token=&lt;JWT&gt;</code>: the token moves into an HttpOnly cookie and out of
          the address bar. <code>npm start</code> prints ready-made links; <code>npm run token</code> signs a token.
        </p>`,
    ),
  );
  return undefined;
}

const who = (c: Claims) => `${c.sub} (${c.roles.join(', ')} at ${c.company})`;
const sameSession = (a: Claims, b: Claims) =>
  a.sub === b.sub && a.company === b.company && a.roles.join('\n') === b.roles.join('\n');

/** Keeps `token` in the HttpOnly cookie until it expires; `Secure` when the page was served over HTTPS. */
export function setSessionCookie(req: Request, res: Response, token: string, claims: Pick<Claims, 'exp'>): void {
  res.cookie(TOKEN_COOKIE, token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: req.secure,
    path: '/',
    maxAge: Math.max(0, claims.exp * 1000 - Date.now()),
  });
}

/** A path on this service to go back to (never another host: `//evil` and `/\evil` are refused). */
export function localPath(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : '/';
}

/** The request's URL without `access_token`. */
function withoutToken(req: Request): string {
  const url = new URL(req.originalUrl, 'http://pgfeed.invalid');
  url.searchParams.delete('access_token');
  return url.pathname + url.search;
}

/**
 * The signed-in user of a page request, or undefined when this function has
 * answered already. A valid `?access_token` becomes the session cookie and a
 * 303 to the same URL without it (the token leaves the address bar and
 * history) — unless the browser is signed in as someone else: then a page asks
 * before switching, so a link cannot silently swap a victim's session for an
 * attacker's (login CSRF). No valid token: a 401 page saying how to get one.
 */
export async function signedIn(ctx: RouteContext, req: Request, res: Response): Promise<Claims | undefined> {
  const fromQuery = req.query.access_token;
  if (fromQuery !== undefined) {
    if (typeof fromQuery !== 'string') return refuse(res, 'access_token must be given once');
    let claims: Claims;
    try {
      claims = await ctx.verify(fromQuery);
    } catch (error) {
      if (error instanceof AppError) return refuse(res, `The link's token was refused: ${error.message}`);
      throw error;
    }
    const current = await currentSession(ctx, req);
    const next = withoutToken(req);
    if (current && !sameSession(current, claims)) {
      res.set('Referrer-Policy', 'no-referrer');
      sendPage(res, 200, switchPage(current, claims, fromQuery, next));
      return undefined;
    }
    setSessionCookie(req, res, fromQuery, claims);
    res.set('Cache-Control', 'no-store').redirect(303, next);
    return undefined;
  }
  try {
    return await ctx.authenticate(req);
  } catch (error) {
    if (error instanceof AppError) return refuse(res, `Not signed in: ${error.message}`);
    throw error;
  }
}

/** The claims of the session cookie, when it holds a valid token. */
async function currentSession(ctx: RouteContext, req: Request): Promise<Claims | undefined> {
  const token = readCookie(req.headers.cookie, TOKEN_COOKIE);
  return token === undefined ? undefined : ctx.verify(token).catch(() => undefined);
}

function switchPage(current: Claims, next: Claims, token: string, path: string): string {
  return page(
    'Switch user?',
    html`<h1>Switch user?</h1>
      <p>This browser is signed in as <strong>${who(current)}</strong>.</p>
      <p>The link you opened signs in as <strong>${who(next)}</strong>. Switch only if you meant to.</p>
      <form method="post" action="/session" class="choices">
        <input type="hidden" name="access_token" value="${token}" />
        <input type="hidden" name="next" value="${path}" />
        <button type="submit">Switch to ${next.sub}</button>
        <a class="button secondary" href="${path}">Stay signed in as ${current.sub}</a>
      </form>`,
  );
}

/**
 * POST /session (the confirmation's form): switches the session cookie. A
 * form from another origin carrying the current cookie never gets here (the
 * core's same-origin check on cookie-authenticated writes).
 */
export async function switchSession(ctx: RouteContext, req: Request, res: Response): Promise<void> {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const token = typeof body.access_token === 'string' ? body.access_token : undefined;
  let claims: Claims;
  try {
    claims = await ctx.verify(token ?? '');
  } catch (error) {
    if (error instanceof AppError) return void refuse(res, `The token was refused: ${error.message}`);
    throw error;
  }
  setSessionCookie(req, res, token!, claims);
  res.set('Cache-Control', 'no-store').redirect(303, localPath(body.next));
}
