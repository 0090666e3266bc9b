import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type Response } from 'express';
import { type Html, TOKEN_COOKIE, html, parseId, readCookie } from '../../express';
import { type Claims, type RouteContext } from '../../index';
import { type Live, labels, list, page } from '../pages/layout';
import { RECENT } from '../pages/lists';
import { sendPage, signedIn, switchSession } from '../pages/session';
import { hasRole } from '../roles';
import { readSnapshots } from '../snapshots';

type Row = Record<string, unknown>;
const keyed = (items: Row[]) => items.map((row) => ({ key: String(row.id), row }));

/**
 * The pages' script: live() and the row templates bundled by `npm run build` (scripts/bundle.mjs) into
 * dist/browser/; from dist/domain/routes when the service runs compiled, from src/domain/routes under ts-jest.
 */
const PAGES_BUNDLE = [
  path.join(__dirname, '..', '..', 'browser', 'pgfeed-pages.js'),
  path.join(__dirname, '..', '..', '..', 'dist', 'browser', 'pgfeed-pages.js'),
];
const pagesBundle = () => PAGES_BUNDLE.find((file) => existsSync(file)) ?? PAGES_BUNDLE[0]!;

const LIVE_ENTITIES = ['trip', 'stock', 'checkout', 'booking'];

/** The demo pages: / (index), /dashboard, /cashier, /public/:companyId, the session switch, and their assets. */
export function pageRoutes(ctx: RouteContext): Router {
  const { renderer, sql } = ctx;
  const router = Router();

  router.get('/assets/pages.js', (_req, res) => res.sendFile(pagesBundle()));
  router.use('/assets', express.static(path.join(__dirname, '..', 'pages', 'assets'), { index: false }));

  router.get('/', async (req, res) => {
    const token = readCookie(req.headers.cookie, TOKEN_COOKIE);
    const claims = token === undefined ? undefined : await ctx.verify(token).catch(() => undefined);
    const publicLink = claims
      ? html`<a href="/public/${encodeURIComponent(claims.company)}">Public availability of ${claims.company}</a>`
      : html`<form class="inline" method="get" action="/public">
          <label>Public availability of company <input name="company" required size="10" autocomplete="off" /></label>
          <button type="submit">Show</button>
        </form>`;
    sendPage(
      res,
      200,
      page(
        'pgfeed',
        html`<h1>pgfeed</h1>
          <p>PostgreSQL changes as live Server-Sent Event streams.</p>
          <ul class="links">
            <li><a href="/dashboard">Dashboard</a>: trips, stock, checkouts and bookings as they change (admin or cashier)</li>
            <li><a href="/cashier">Cashier</a>: sell and cancel seats, halt trips, check items out and in, adjust stock</li>
            <li>${publicLink}: what anyone may see, no sign-in</li>
          </ul>
          <p class="muted">
            ${claims ? `Signed in as ${claims.sub} (${claims.roles.join(', ')} at ${claims.company}). ` : ''}Open a page once with
            <code>?access_token=&lt;JWT&gt;</code>; it is kept in an HttpOnly cookie. <code>npm start</code> prints
            ready-made links.
          </p>`,
      ),
    );
  });

  router.post('/session', express.urlencoded({ extended: false, limit: '16kb' }), (req, res) => switchSession(ctx, req, res));

  function staffOnly(res: Response, claims: Claims): boolean {
    if (hasRole(claims, 'admin', 'cashier')) return true;
    sendPage(
      res,
      403,
      page(
        'Forbidden',
        html`<h1>Forbidden</h1>
          <p>This page is for admins and cashiers; this browser is signed in as ${claims.sub} (${claims.roles.join(', ')}).</p>`,
      ),
    );
    return false;
  }

  /** The live settings of a company page; tabs of one reader share its stream. */
  const companyLive = (claims: Claims): Live => ({
    scope: { company: claims.company },
    entities: LIVE_ENTITIES,
    shareName: `pgfeed:company:${claims.company}|${claims.sub}|${claims.roles.join(',')}`,
  });

  /** Names for the people rows refer to; trips and items are named by the page's own rows. */
  async function people(companyId: string): Promise<{ id: string; name: string; role: string }[]> {
    return sql<{ id: string; name: string; role: string }[]>`
      select id, name, role from users where company_id = ${companyId} order by name, id limit 500`;
  }

  router.get('/dashboard', async (req, res) => {
    const claims = await signedIn(ctx, req, res);
    if (!claims || !staffOnly(res, claims)) return;
    // The first paint (and the page without JavaScript); pages.js then keeps the lists current with live().
    const snap = await readSnapshots(ctx, claims.company, ['trip', 'stock', 'checkout', 'booking'], RECENT);
    const users = await people(claims.company);
    sendPage(
      res,
      200,
      page(
        'Dashboard',
        html`<h1>${claims.company} · dashboard</h1>
          <p class="muted">Times in your zone. <a href="/cashier">Cashier</a> · <a href="/public/${encodeURIComponent(claims.company)}">public page</a></p>
          <div class="grid">
            ${list(renderer, 'trip', 'Trips', keyed(snap.items.trip), { empty: 'No trips.', more: snap.more.trip })}
            ${list(renderer, 'stock', 'Stock', keyed(snap.items.stock), { empty: 'No items.', more: snap.more.stock })}
            ${list(renderer, 'checkout', 'Checkouts', keyed(snap.items.checkout), {
              count: { of: '[data-v=checked_out]', unit: 'out' },
              empty: 'Nothing checked out.',
            })}
            ${list(renderer, 'booking', 'Recent bookings', keyed(snap.items.booking), { empty: 'No bookings yet.' })}
          </div>
          ${labels(users.map((u) => ({ ref: `user:${u.id}`, label: u.name })))}`,
        { live: companyLive(claims) },
      ),
    );
  });

  router.get('/cashier', async (req, res) => {
    const claims = await signedIn(ctx, req, res);
    if (!claims || !staffOnly(res, claims)) return;
    const snap = await readSnapshots(ctx, claims.company, ['trip', 'stock', 'checkout', 'booking'], RECENT);
    const users = await people(claims.company);
    const customers = users.filter((u) => u.role === 'customer');
    sendPage(
      res,
      200,
      page(
        'Cashier',
        html`<h1>${claims.company} · cashier</h1>
          <p class="muted">Signed in as ${claims.sub} (${claims.roles.join(', ')}). Times in your zone. <a href="/dashboard">Dashboard</a></p>
          ${list(renderer, 'trip', 'Trips', keyed(snap.items.trip), { actions: tripActions(claims), empty: 'No trips.', more: snap.more.trip })}
          ${list(renderer, 'booking', 'Recent bookings', keyed(snap.items.booking), {
            actions: html`<button type="button" class="secondary" data-act="cancel">Cancel booking</button>${message()}`,
            empty: 'No bookings yet.',
          })}
          ${list(renderer, 'stock', 'Stock', keyed(snap.items.stock), { actions: stockActions(customers), empty: 'No items.', more: snap.more.stock })}
          ${list(renderer, 'checkout', 'Checkouts', keyed(snap.items.checkout), {
            actions: html`<button type="button" data-act="return">Check in</button>${message()}`,
            count: { of: '[data-v=checked_out]', unit: 'out' },
            empty: 'Nothing checked out.',
          })}
          ${labels(users.map((u) => ({ ref: `user:${u.id}`, label: u.name })))}`,
        { live: companyLive(claims), scripts: ['/assets/portal.js'] },
      ),
    );
  });

  router.get('/public', (req, res) => {
    const company = typeof req.query.company === 'string' ? req.query.company.trim() : '';
    res.redirect(303, company ? `/public/${encodeURIComponent(company)}` : '/');
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
          <p class="muted">Seats and items as they are now. Times in your zone.</p>
          ${list(renderer, 'trip', 'Trips', project('trip', snap.items.trip), { empty: 'No trips.', more: snap.more.trip })}
          ${list(renderer, 'stock', 'Items', project('stock', snap.items.stock), { empty: 'No items.', more: snap.more.stock })}`,
        { live: { scope: { public: companyId }, entities: ['trip', 'stock'], shareName: `pgfeed:public:${companyId}` } },
      ),
    );
  });

  return router;
}

/** Where a control's result or refusal is said, next to it. */
const message = () => html`<output class="msg" aria-live="polite"></output>`;

function tripActions(claims: Claims): Html {
  const admin = hasRole(claims, 'admin')
    ? html`<button type="button" class="secondary" data-act="halt">Halt booking</button
          ><button type="button" class="secondary" data-act="resume">Resume booking</button>`
    : '';
  return html`<label class="qty">Seats <input type="number" name="seats" min="1" max="1000" value="1" inputmode="numeric" /></label
    ><button type="button" data-act="sell">Sell</button>${admin}${message()}`;
}

function stockActions(customers: { id: string; name: string }[]): Html {
  return html`<label class="qty">Units <input type="number" name="units" min="1" value="1" inputmode="numeric" /></label
    ><button type="button" class="secondary" data-act="add">Add</button
    ><button type="button" class="secondary" data-act="remove">Remove</button>
    <span class="checkout-to"
      ><label>To <select name="customer">${customers.map((c) => html`<option value="${c.id}">${c.name}</option>`)}</select></label
      ><label>for
        <select name="days">
          <option value="1">1 day</option>
          <option value="7" selected>7 days</option>
          <option value="14">14 days</option>
          <option value="">no due date</option>
        </select></label
      ><button type="button" data-act="checkout">Check out</button></span
    >${message()}`;
}
