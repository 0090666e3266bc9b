// A server-rendered app (think of a lending desk) that shows a company's trips and lets htmx keep them live,
// without writing JavaScript for it: the page renders the rows from pgfeed's snapshot, and htmx's SSE
// extension applies pgfeed's `format=html` fragments (out-of-band swaps by row id) from the snapshot's
// position. The browser's EventSource resumes with Last-Event-ID after a drop; while the stream is not open
// (a proxy that strips it), the list is refreshed from /rows every POLL_MS.
//
//   PGFEED_URL=http://localhost:8080 PGFEED_TOKEN=<admin JWT> PGFEED_COMPANY=acme npm start   (port 5175)
//   pgfeed must list http://localhost:5175 in CORS_ORIGINS.
import { createReadStream } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const base = process.env.PGFEED_URL ?? 'http://localhost:8080';
const token = process.env.PGFEED_TOKEN ?? '';
const company = encodeURIComponent(process.env.PGFEED_COMPANY ?? 'acme');
const pollMs = Number(process.env.POLL_MS ?? 30000);
const port = Number(process.env.PORT ?? 5175);

const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// The ids pgfeed's fragments address: row-<entity>-<key as hex>, and list-<entity> for new rows.
const rowId = (key) => `row-trip-${Buffer.from(key, 'utf8').toString('hex')}`;
const row = ({ key, row: t }) =>
  `<div id="${rowId(key)}" class="row trip" data-key="${esc(key)}"><span class="cell" data-col="route">${esc(t.route)}</span> ` +
  `<span class="cell" data-col="seats left">${esc(t.availableSlots)} of ${esc(t.capacity)}</span></div>`;

async function snapshot() {
  const res = await fetch(`${base}/snapshots/company/${company}?entities=trip`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!res.ok) throw new Error(`snapshot: HTTP ${res.status}`);
  return res.json(); // one page (up to 500 trips) is enough for this example
}

async function page() {
  const { items, lastEventId } = await snapshot();
  const stream = `${base}/events/company/${company}?format=html&entities=trip&lastEventId=${lastEventId}&access_token=${encodeURIComponent(token)}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trips, live (htmx) · pgfeed example</title>
<script src="/htmx.js"></script><script src="/sse.js"></script><script src="/page.js"></script></head>
<body hx-ext="sse" sse-connect="${esc(stream)}">
<h1>Trips, live</h1><p id="status">connecting</p>
<div id="list-trip" hx-get="/rows" hx-trigger="every ${pollMs}ms [document.body.dataset.sse !== 'open']">${items.map(row).join('')}</div>
<div hidden sse-swap="trip.created,trip.updated,trip.deleted,trip.truncated"></div>
</body></html>`;
}

// The only script of our own: the stream's state, shown, and read by the polling trigger above.
const pageJs = `htmx.createEventSource = (url) => new EventSource(url);
document.addEventListener('htmx:sseOpen', () => (document.body.dataset.sse = 'open', document.getElementById('status').textContent = 'live'));
document.addEventListener('htmx:sseError', () => (document.body.dataset.sse = 'error', document.getElementById('status').textContent = 'reconnecting'));`;

const files = { '/htmx.js': require.resolve('htmx.org/dist/htmx.min.js'), '/sse.js': require.resolve('htmx-ext-sse/sse.js') };

http
  .createServer(async (req, res) => {
    try {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (files[path])
        return (res.writeHead(200, { 'Content-Type': 'text/javascript' }), createReadStream(files[path]).pipe(res));
      if (path === '/page.js') return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(pageJs);
      const html = path === '/rows' ? (await snapshot()).items.map(row).join('') : path === '/' ? await page() : undefined;
      if (html === undefined) return res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(html);
    } catch (error) {
      res.writeHead(502, { 'Content-Type': 'text/plain' }).end(error.message);
    }
  })
  .listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${port}/`));
