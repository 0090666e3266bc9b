import { type Html, type RowRenderer, html, listDomId } from '../../index';
import { DOMAIN_ENTITIES } from '../entities';

/** A whole page around `body`; `scripts` are URLs of static scripts to load after it. */
export function page(title: string, body: Html, scripts: string[] = []): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · pgfeed</title><link rel="stylesheet" href="/assets/pgfeed.css">
<meta name="htmx-config" content='{"includeIndicatorStyles":false}'>
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
