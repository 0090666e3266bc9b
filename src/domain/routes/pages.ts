import path from 'node:path';
import express, { Router, type Request, type Response } from 'express';
import { AppError, type Claims, type Html, type RouteContext, TOKEN_COOKIE, html, parseId } from '../../index';
import { list, liveSink, page } from '../pages/layout';
import { readSnapshots } from '../snapshots';

type Row = Record<string, unknown>;
const keyed = (items: Row[]) => items.map((row) => ({ key: String(row.id), row }));

/** The demo pages: /dashboard (admin), /cashier, /public/:companyId, and the assets they load. */
export function pageRoutes(ctx: RouteContext): Router {
  const { renderer } = ctx;
  const router = Router();

  router.get('/assets/htmx.min.js', (_req, res) => res.sendFile(require.resolve('htmx.org/dist/htmx.min.js')));
  router.get('/assets/sse.js', (_req, res) => res.sendFile(require.resolve('htmx-ext-sse/sse.js')));
  router.use('/assets', express.static(path.join(__dirname, '..', 'pages', 'assets'), { index: false }));

  router.get('/', (_req, res) => {
    res.type('html').send(
      page(
        'pgfeed',
        html`<h1>pgfeed</h1>
          <p>PostgreSQL changes as live Server-Sent Event streams.</p>
          <ul>
            <li><a href="/dashboard">Dashboard</a> (admin or cashier token)</li>
            <li><a href="/cashier">Cashier</a></li>
            <li>Public availability: <code>/public/&lt;companyId&gt;</code></li>
          </ul>
          <p class="muted">
            Open a page once with <code>?access_token=&lt;JWT&gt;</code>; it is kept in an HttpOnly cookie.
            <code>npm start</code> prints ready-made links.
          </p>`,
      ),
    );
  });

  /** Reads the token from `?access_token` (then moves it into the cookie) or from the cookie. */
  async function signedIn(req: Request, res: Response): Promise<Claims | undefined> {
    const fromQuery = req.query.access_token;
    if (typeof fromQuery === 'string') {
      const claims = await ctx.verify(fromQuery).catch(() => undefined);
      if (claims) {
        res.cookie(TOKEN_COOKIE, fromQuery, {
          httpOnly: true,
          sameSite: 'lax',
          path: '/',
          maxAge: Math.max(0, claims.exp * 1000 - Date.now()),
        });
        res.redirect(303, req.path); // the token leaves the address bar and history
        return undefined;
      }
    }
    try {
      return await ctx.authenticate(req);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      res
        .status(401)
        .type('html')
        .send(
          page(
            'Sign in',
            html`<h1>Sign in</h1>
              <p>
                ${error.message}. Open this page with <code>?access_token=&lt;JWT&gt;</code> (see <code>npm start</code>'s
                output).
              </p>`,
          ),
        );
      return undefined;
    }
  }

  function staffOnly(res: Response, claims: Claims): boolean {
    if (claims.role === 'admin' || claims.role === 'cashier') return true;
    res
      .status(403)
      .type('html')
      .send(
        page(
          'Forbidden',
          html`<h1>Forbidden</h1>
            <p>This page is for admins and cashiers.</p>`,
        ),
      );
    return false;
  }

  const stream = (scope: string, companyId: string, query: string, lastEventId: string) =>
    `/events/${scope}/${encodeURIComponent(companyId)}?format=html${query}&lastEventId=${lastEventId}`;

  router.get('/dashboard', async (req, res) => {
    const claims = await signedIn(req, res);
    if (!claims || !staffOnly(res, claims)) return;
    // One snapshot for all lists, and the stream resumes exactly where it was taken.
    const snap = await readSnapshots(ctx, claims.company, ['trip', 'stock', 'booking']);
    res.type('html').send(
      page(
        'Dashboard',
        html`<h1>${claims.company} · dashboard</h1>
          ${liveSink(stream('company', claims.company, '', snap.lastEventId))}
          ${list(renderer, 'trip', 'Trips', keyed(snap.items.trip))} ${list(renderer, 'stock', 'Stock', keyed(snap.items.stock))}
          ${list(renderer, 'booking', 'Bookings', keyed(snap.items.booking))}`,
      ),
    );
  });

  router.get('/cashier', async (req, res) => {
    const claims = await signedIn(req, res);
    if (!claims || !staffOnly(res, claims)) return;
    const snap = await readSnapshots(ctx, claims.company, ['trip']);
    const sell = (row: Html, key: string) =>
      html`<div class="sale">${row}<button type="button" data-sell="${key}">Sell 1 seat</button></div>`;
    res.type('html').send(
      page(
        'Cashier',
        html`<h1>${claims.company} · cashier</h1>
          ${liveSink(stream('company', claims.company, '&entities=trip', snap.lastEventId))}
          ${list(renderer, 'trip', 'Trips', keyed(snap.items.trip), sell)}
          <p id="sale-result" class="muted"></p>`,
        ['/assets/cashier.js'],
      ),
    );
  });

  router.get('/public/:companyId', async (req, res) => {
    const companyId = parseId(req.params.companyId, 'companyId');
    const snap = await readSnapshots(ctx, companyId, ['trip', 'stock']);
    const project = (entity: 'trip' | 'stock', items: Row[]) =>
      items.map((row) => ({ key: String(row.id), row: ctx.entities.publicRow(entity, row) ?? {} }));
    res.type('html').send(
      page(
        'Availability',
        html`<h1>${companyId} · availability</h1>
          ${liveSink(stream('public', companyId, '', snap.lastEventId))}
          ${list(renderer, 'trip', 'Trips', project('trip', snap.items.trip))}
          ${list(renderer, 'stock', 'Stock', project('stock', snap.items.stock))}`,
      ),
    );
  });

  return router;
}
