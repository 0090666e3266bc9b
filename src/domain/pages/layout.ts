import { type Html, type RowRenderer, html, listDomId, trustedHtml } from '../../index';
import { DOMAIN_ENTITIES } from '../entities';

const STYLE = trustedHtml(`
body{font:15px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.4rem}h2{font-size:1.05rem;margin:1.5rem 0 .4rem}
.list{background:#fff;border:1px solid #dde1e7;border-radius:6px;overflow:hidden}
.row{display:grid;grid-template-columns:repeat(5,minmax(6rem,1fr));padding:.35rem .7rem;border-top:1px solid #eef0f3}
.row.head{font-weight:600;background:#eef1f5;border-top:0}
.row[data-event-id]{animation:flash 1.2s ease-out}
@keyframes flash{from{background:#fff3b0}to{background:transparent}}
.sale{display:flex;align-items:center;gap:.6rem}.sale .row{flex:1}
button{padding:.3rem .7rem;border:1px solid #2b6cb0;background:#2b6cb0;color:#fff;border-radius:4px;cursor:pointer}
.muted{color:#6b7280}#status{font-size:.85rem}
`);

/** A whole page around `body`; `scripts` are URLs of static scripts to load after it. */
export function page(title: string, body: Html, scripts: string[] = []): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · pgfeed</title><style>${STYLE}</style>
<script src="/assets/htmx.min.js"></script><script src="/assets/sse.js"></script></head>
<body>${body}${scripts.map((src) => html`<script src="${src}"></script>`)}</body></html>`.text;
}

type Keyed = { key: string; row: Record<string, unknown> };

/** A titled list of rows with the id that live fragments append to. */
export function list(
  renderer: RowRenderer,
  entity: string,
  title: string,
  rows: Keyed[],
  wrap?: (row: Html, key: string) => Html,
): Html {
  const items = rows.map(({ key, row }) => {
    const shown = renderer.row(entity, key, row);
    return wrap ? wrap(shown, key) : shown;
  });
  return html`<h2>${title}</h2><div class="list">${renderer.header(entity, rows[0]?.row)}<div id="${listDomId(entity)}">${items}</div></div>`;
}

/**
 * The element that holds the EventSource: every event of the domain's
 * entities is applied by its out-of-band swap; the sink itself shows nothing.
 */
export function liveSink(streamUrl: string): Html {
  const names = DOMAIN_ENTITIES.flatMap((e) => ['created', 'updated', 'deleted'].map((t) => `${e.name}.${t}`)).join(',');
  return html`<div hx-ext="sse" sse-connect="${streamUrl}"><div sse-swap="${names}" hx-swap="none"></div></div>
    <p id="status" class="muted">live: changes appear as they commit</p>`;
}
