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

/** The DOM id of the list that rows of an entity are added to. */
export function listDomId(entity: string): string {
  return rowDomId(entity, 'rows');
}

type Row = Record<string, unknown>;

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
const when = (v: unknown) => (typeof v === 'string' ? v.slice(0, 16).replace('T', ' ') : '');

/** The columns each entity shows, as [label, value]; public projections fill what they have. */
const COLUMNS: Record<string, (row: Row) => [string, unknown][]> = {
  trip: (r) => [
    ['route', r.route],
    ['departs', when(r.departsAt)],
    ['capacity', r.capacity],
    ['available', r.availableSlots],
    ['booking', r.bookingHalted ? 'halted' : 'open'],
  ],
  stock: (r) => [
    ['sku', r.sku],
    ['name', r.name],
    ['available', num(r.available) ?? (num(r.quantity) ?? 0) - (num(r.reserved) ?? 0)],
    ['quantity', r.quantity],
    ['reserved', r.reserved],
  ],
  booking: (r) => [
    ['booking', r.id],
    ['trip', r.tripId],
    ['seats', r.seats],
    ['channel', r.channel],
    ['status', r.status],
  ],
  checkout: (r) => [
    ['item', r.itemId],
    ['user', r.userId],
    ['status', r.status],
    ['due', when(r.dueAt)],
  ],
};

/** The header cells of an entity's list: the columns renderRow shows for `sample` (all when absent). */
export function renderHeader(entity: string, sample?: Row): string {
  const all = COLUMNS[entity]?.(sample ?? {}) ?? [['row', '']];
  const columns = sample ? all.filter(([, value]) => value !== undefined) : all;
  return `<div class="row head">${columns.map(([label]) => `<span class="cell">${escapeHtml(label)}</span>`).join('')}</div>`;
}

/** One row as the pages show it; `extra` are attributes for the element (e.g. an out-of-band swap). */
export function renderRow(entity: string, key: string, row: Row, extra = ''): string {
  const columns = COLUMNS[entity]?.(row) ?? [['row', JSON.stringify(row)]];
  const cells = columns
    .filter(([, value]) => value !== undefined)
    .map(([label, value]) => `<span class="cell" data-col="${escapeHtml(label)}">${escapeHtml(value)}</span>`)
    .join('');
  return `<div id="${rowDomId(entity, key)}" class="row ${escapeHtml(entity)}"${extra}>${cells}</div>`;
}

/**
 * The `format=html` data of an event: an out-of-band swap for htmx's SSE
 * extension. An update replaces the row's element, a delete removes it, and a
 * create is appended to the entity's list (`listDomId`), using the same markup
 * the pages render, so a live row looks exactly like a loaded one.
 */
export function renderFragment(event: ChangeEvent): string {
  const id = rowDomId(event.entity, event.key);
  if (event.op === 'delete') return `<div id="${id}" hx-swap-oob="delete"></div>`;
  const attrs = ` data-event-id="${escapeHtml(event.id)}"`;
  if (event.op === 'insert') {
    return `<div hx-swap-oob="beforeend:#${listDomId(event.entity)}">${renderRow(event.entity, event.key, event.row, attrs)}</div>`;
  }
  return renderRow(event.entity, event.key, event.row, `${attrs} hx-swap-oob="true"`);
}
