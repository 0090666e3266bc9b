import type { LiveScope } from '../../client';
import { type Html, type RowRenderer, html, listDomId } from '../../express';

/**
 * What a live page keeps current with `live()` from pgfeed/client (the browser bundle, src/domain/pages/browser/):
 * whose rows, which entities, and the name under which tabs of one reader share one stream.
 */
export interface Live {
  scope: LiveScope;
  entities: string[];
  /** Tabs with the same name share one stream (live()'s `shareTab`): the stream and the reader. */
  shareName: string;
}

/**
 * A whole page: stylesheet and scripts are static files under /assets (no
 * inline script, style or handler). A live page gets the connection badge and
 * its settings on <main>, which /assets/pages.js reads.
 */
export function page(title: string, body: Html, options: { live?: Live; scripts?: string[] } = {}): string {
  const { live, scripts = [] } = options;
  const main = live
    ? html`<main data-live-scope="${JSON.stringify(live.scope)}" data-live-entities="${live.entities.join(',')}" data-live-share="${live.shareName}">`
    : html`<main>`;
  const all = live ? ['/assets/pages.js', ...scripts] : scripts;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · pgfeed</title><link rel="stylesheet" href="/assets/pgfeed.css">
${all.map((src) => html`<script src="${src}" defer></script>`)}</head>
<body><header class="top"><a class="home" href="/">pgfeed</a>${live ? badge() : ''}</header>
${main}${body}</main>
<div id="announce" class="sr-only" aria-live="polite"></div></body></html>`.text;
}

/** The connection badge; pages.js keeps it true (connecting, live, reconnecting, offline, paused, polling). */
function badge(): Html {
  return html`<div id="live" class="badge" data-state="connecting" role="status"><span class="dot" aria-hidden="true"></span><span class="state">connecting…</span><span class="last"></span></div>`;
}

type Keyed = { key: string; row: Record<string, unknown> };

export interface ListOptions {
  /** Controls shown beside every row (live rows get them too, from a <template>). */
  actions?: Html;
  /** Counts only rows matching this selector (e.g. `[data-v=checked_out]`), with `unit` after the number. */
  count?: { of?: string; unit?: string };
  /** Shown while the list is empty. */
  empty?: string;
  /** The page shows only the first rows of a longer list (the API pages through all of them). */
  more?: boolean;
}

/**
 * A titled section with a list of rows that live fragments update (the list's
 * id is `listDomId`); the heading carries the count pages.js keeps current.
 */
export function list(renderer: RowRenderer, entity: string, title: string, rows: Keyed[], options: ListOptions = {}): Html {
  const { actions, count = {}, empty = 'Nothing here yet.', more = false } = options;
  const id = listDomId(entity);
  const items = rows.map(({ key, row }) => {
    const shown = renderer.row(entity, key, row);
    return actions ? html`<div class="item">${shown}<div class="actions">${actions}</div></div>` : shown;
  });
  const counted = count.of ? '' : String(rows.length);
  return html`<section class="section ${entity}" aria-labelledby="h-${entity}">
<h2 id="h-${entity}">${title} <span class="count"><span data-count="${id}"${count.of ? html` data-count-of="${count.of}"` : ''}>${counted}</span>${count.unit ? ` ${count.unit}` : ''}</span></h2>
<div class="list${actions ? ' has-actions' : ''}">${renderer.header(entity, rows[0]?.row)}<div id="${id}" class="rows" data-list="${entity}"${actions ? html` data-actions="actions-${entity}"` : ''}>${items}</div><p class="empty">${empty}</p>${more ? html`<p class="more">Only the first ${rows.length} are shown here.</p>` : ''}</div>
${actions ? html`<template id="actions-${entity}">${actions}</template>` : ''}</section>`;
}

/** Names for ids the rows refer to (`data-ref="user:cora"`), which pages.js shows instead of the id. */
export function labels(entries: { ref: string; label: string }[]): Html {
  return html`<div id="labels" hidden>${entries.map((e) => html`<data value="${e.ref}">${e.label}</data>`)}</div>`;
}
