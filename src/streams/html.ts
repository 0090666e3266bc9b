import type { ChangeEvent } from '../events/schema';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** The DOM id of the element showing a row, shared by pages and fragments. */
export function rowDomId(entity: string, key: string): string {
  return `${entity}-${key}`.replace(/[^A-Za-z0-9_-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);
}

/**
 * The `format=html` data of an event: an out-of-band swap that replaces (or,
 * for a delete, removes) the element showing the row, for htmx's SSE extension.
 */
export function renderFragment(event: ChangeEvent): string {
  const id = rowDomId(event.entity, event.key);
  if (event.op === 'delete') {
    return `<div id="${id}" hx-swap-oob="delete"></div>`;
  }
  const cells = Object.entries(event.row)
    .map(([k, v]) => `<span class="cell" data-col="${escapeHtml(k)}">${escapeHtml(v)}</span>`)
    .join('');
  return `<div id="${id}" class="row ${escapeHtml(event.entity)}" data-event-id="${event.id}" hx-swap-oob="true">${cells}</div>`;
}
