import { Router, type Request, type Response } from 'express';
import type { Sql } from '../../db/connect';
import { readSnapshot, readSnapshots } from '../../domain/snapshots';
import { AppError } from '../../errors';
import { publicRow } from '../../streams/filter';
import { escapeHtml } from '../../streams/html';
import { type Auth, type Claims, TOKEN_COOKIE } from '../auth';
import { parseId } from '../params';
import { list, liveSink, page } from '../pages/layout';

export interface PageRoutesDeps {
  sql: Sql;
  auth: Auth;
}

type Row = Record<string, unknown>;
const keyed = (items: Row[]) => items.map((row) => ({ key: String(row.id), row }));

/** The demo pages: /dashboard (admin), /cashier, /public/:companyId, and the assets they load. */
export function pageRoutes(deps: PageRoutesDeps): Router {
  const { sql, auth } = deps;
  const router = Router();

  router.get('/assets/htmx.min.js', (_req, res) => res.sendFile(require.resolve('htmx.org/dist/htmx.min.js')));
  router.get('/assets/sse.js', (_req, res) => res.sendFile(require.resolve('htmx-ext-sse/sse.js')));

  router.get('/', (_req, res) => {
    res.type('html').send(
      page(
        'pgfeed',
        `<h1>pgfeed</h1><p>PostgreSQL changes as live Server-Sent Event streams.</p>
<ul><li><a href="/dashboard">Dashboard</a> (admin or cashier token)</li><li><a href="/cashier">Cashier</a></li>
<li>Public availability: <code>/public/&lt;companyId&gt;</code></li></ul>
<p class="muted">Open a page once with <code>?access_token=&lt;JWT&gt;</code>; it is kept in an HttpOnly cookie.
<code>npm start</code> prints ready-made links.</p>`,
      ),
    );
  });

  /** Reads the token from `?access_token` (then moves it into the cookie) or from the cookie. */
  async function signedIn(req: Request, res: Response): Promise<Claims | undefined> {
    const fromQuery = req.query.access_token;
    if (typeof fromQuery === 'string') {
      const claims = await auth.verify(fromQuery).catch(() => undefined);
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
      return await auth.fromRequest(req);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      res
        .status(401)
        .type('html')
        .send(
          page(
            'Sign in',
            `<h1>Sign in</h1><p>${escapeHtml(error.message)}. Open this page with <code>?access_token=&lt;JWT&gt;</code> (see <code>npm start</code>'s output).</p>`,
          ),
        );
      return undefined;
    }
  }

  function staffOnly(res: Response, claims: Claims): boolean {
    if (claims.role === 'admin' || claims.role === 'cashier') return true;
    res.status(403).type('html').send(page('Forbidden', '<h1>Forbidden</h1><p>This page is for admins and cashiers.</p>'));
    return false;
  }

  router.get('/dashboard', async (req, res) => {
    const claims = await signedIn(req, res);
    if (!claims || !staffOnly(res, claims)) return;
    // One snapshot for all lists, and the stream resumes exactly where it was taken.
    const snap = await readSnapshots(sql, claims.company, ['trips', 'stock', 'bookings']);
    res.type('html').send(
      page(
        'Dashboard',
        `<h1>${escapeHtml(claims.company)} · dashboard</h1>
${liveSink(`/events/company/${encodeURIComponent(claims.company)}?format=html&lastEventId=${snap.lastEventId}`)}
${list('trip', 'Trips', keyed(snap.items.trips))}
${list('stock', 'Stock', keyed(snap.items.stock))}
${list('booking', 'Bookings', keyed(snap.items.bookings))}`,
      ),
    );
  });

  router.get('/cashier', async (req, res) => {
    const claims = await signedIn(req, res);
    if (!claims || !staffOnly(res, claims)) return;
    const trips = await readSnapshot(sql, claims.company, 'trips');
    const sell = (row: string, key: string) =>
      `<div class="sale">${row}<button type="button" data-sell="${escapeHtml(key)}">Sell 1 seat</button></div>`;
    res.type('html').send(
      page(
        'Cashier',
        `<h1>${escapeHtml(claims.company)} · cashier</h1>
${liveSink(`/events/company/${encodeURIComponent(claims.company)}?format=html&entities=trip&lastEventId=${trips.lastEventId}`)}
${list('trip', 'Trips', keyed(trips.items), sell)}
<p id="sale-result" class="muted"></p>
<script>
document.addEventListener('click', async (e) => {
  const id = e.target instanceof HTMLElement && e.target.dataset.sell;
  if (!id) return;
  const res = await fetch('/api/trips/' + encodeURIComponent(id) + '/bookings', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
    body: JSON.stringify({ seats: 1, channel: 'cashier' }),
  });
  const body = await res.json();
  document.getElementById('sale-result').textContent = res.ok ? 'Sold: booking ' + body.id : 'Not sold: ' + body.error.message;
});
</script>`,
      ),
    );
  });

  router.get('/public/:companyId', async (req, res) => {
    const companyId = parseId(req.params.companyId, 'companyId');
    const snap = await readSnapshots(sql, companyId, ['trips', 'stock']);
    const project = (entity: string, items: Row[]) =>
      items.map((row) => ({ key: String(row.id), row: publicRow(entity, row) as Row }));
    res.type('html').send(
      page(
        'Availability',
        `<h1>${escapeHtml(companyId)} · availability</h1>
${liveSink(`/events/public/${encodeURIComponent(companyId)}?format=html&lastEventId=${snap.lastEventId}`)}
${list('trip', 'Trips', project('trip', snap.items.trips))}
${list('stock', 'Stock', project('stock', snap.items.stock))}`,
      ),
    );
  });

  return router;
}
