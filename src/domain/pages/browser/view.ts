/**
 * The live lists in the DOM: rows rendered with the server's own template (RowRenderer and the demo's cells),
 * kept in the lists' order (lists.ts), then decorated: local times, names instead of ids, overdue checkouts,
 * counts, and for a moment what a changed value was.
 */
import type { Change, LiveItem } from '../../../client';
import { RowRenderer, listDomId, rowDomId } from '../../../render';
import { CELLS } from '../cells';
import { LIST_ORDER } from '../lists';

const renderer = new RowRenderer({
  get: (name) => (name in CELLS ? { cells: CELLS[name as keyof typeof CELLS] } : undefined),
});

/** A row as the server renders it; `eventId` marks one that arrived live (the stylesheet flashes it). */
function rowElement(item: LiveItem, eventId?: string): HTMLElement {
  const template = document.createElement('template');
  template.innerHTML = renderer.row(item.entity, item.key, item.row, eventId === undefined ? {} : { eventId }).text;
  return template.content.firstElementChild as HTMLElement;
}

type Shown = Record<string, { value: string | null; text: string }>;

/** What each cell shows, keyed by column: its value (to compare) and its text (to show as "was"). */
function shown(row: Element): Shown {
  const out: Shown = {};
  row.querySelectorAll<HTMLElement>('.cell[data-col]').forEach((cell) => {
    const time = cell.querySelector('time');
    const ref = cell.querySelector<HTMLElement>('[data-ref]');
    out[cell.dataset.col!] = {
      value: time ? time.getAttribute('datetime') : ref ? ref.dataset.ref! : cell.textContent,
      text: cell.textContent ?? '',
    };
  });
  return out;
}

/** Cells whose value differs from `before` say what they were, for `wasMs`. */
function markChanged(row: Element, before: Shown, wasMs: number): void {
  for (const [col, now] of Object.entries(shown(row))) {
    const was = before[col];
    if (!was || was.value === now.value) continue;
    const cell = row.querySelector<HTMLElement>(`.cell[data-col="${CSS.escape(col)}"]`)!;
    cell.dataset.was = was.text;
    cell.classList.add('changed');
    setTimeout(() => cell.classList.remove('changed'), wasMs);
  }
}

/** Rows of lists with controls sit in an .item beside a copy of the list's controls (its <template>). */
function placed(list: HTMLElement, row: HTMLElement): HTMLElement {
  if (row.parentElement?.classList.contains('item')) return row.parentElement;
  const template = list.dataset.actions ? (document.getElementById(list.dataset.actions) as HTMLTemplateElement | null) : null;
  if (!template) return row;
  const item = document.createElement('div');
  item.className = 'item';
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.append(template.content.cloneNode(true));
  item.append(row, actions);
  return item;
}

/** Puts the rows a list shows (its order, its limit) in place: new ones rendered, gone ones removed. */
function arrange(list: HTMLElement, entity: string, items: readonly LiveItem[], fresh: Map<string, string | undefined>): void {
  const order = LIST_ORDER[entity];
  let rows = items.filter((item) => item.entity === entity);
  if (order) rows = rows.sort(order.compare).slice(0, order.limit);
  const keep = new Set<Element>();
  rows.forEach((item, at) => {
    const id = rowDomId(entity, item.key);
    const row = document.getElementById(id) ?? rowElement(item, fresh.get(id));
    const node = placed(list, row);
    keep.add(node);
    if (list.children[at] !== node) list.insertBefore(node, list.children[at] ?? null);
  });
  for (const child of Array.from(list.children)) if (!keep.has(child)) child.remove();
}

/**
 * Applies a batch of live()'s changes to the lists on the page; returns the rows an event changed (with
 * what they were, for the announcement). A change of a list the page does not show is skipped.
 */
export function applyChanges(
  changes: readonly Change[],
  items: readonly LiveItem[],
  wasMs: number,
): { row: HTMLElement | null; change: Change }[] {
  const touched = new Map<string, HTMLElement>();
  const fresh = new Map<string, string | undefined>();
  const told: { row: HTMLElement | null; change: Change }[] = [];
  for (const change of changes) {
    const { entity, key } = change.item;
    const list = document.getElementById(listDomId(entity));
    if (!list) continue;
    touched.set(entity, list);
    const id = rowDomId(entity, key);
    const old = document.getElementById(id);
    if (change.kind === 'delete') {
      (old?.parentElement?.classList.contains('item') ? old.parentElement : old)?.remove();
    } else if (old) {
      const before = change.kind === 'update' && change.eventId !== undefined ? shown(old) : null;
      const row = rowElement(change.item, change.eventId);
      old.replaceWith(row);
      decorate(row);
      if (before) markChanged(row, before, wasMs);
    } else {
      fresh.set(id, change.eventId); // rendered by arrange() if the list shows it
    }
    if (change.eventId !== undefined) told.push({ row: null, change });
  }
  for (const [entity, list] of touched) arrange(list, entity, items, fresh);
  decorate(document);
  counts();
  for (const t of told)
    if (t.change.kind !== 'delete') t.row = document.getElementById(rowDomId(t.change.item.entity, t.change.item.key));
  return told;
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  timeZoneName: 'short',
});

/** The name of `kind:id`: a person from the page's #labels, a trip's route or an item's name from its row. */
function labelOf(ref: string): string | null {
  const known = document.querySelector(`#labels data[value="${CSS.escape(ref)}"]`);
  if (known) return known.textContent;
  const colon = ref.indexOf(':');
  const list = document.getElementById(listDomId(ref.slice(0, colon)));
  const row = list?.querySelector(`.row[data-key="${CSS.escape(ref.slice(colon + 1))}"]`);
  const cell = row?.querySelector('[data-col="route"],[data-col="name"]');
  return cell ? cell.textContent : null;
}

/** Local times with their zone, names for ids, overdue checkouts. */
export function decorate(root: ParentNode): void {
  root.querySelectorAll<HTMLTimeElement>('time[datetime]:not([data-local])').forEach((time) => {
    const at = new Date(time.getAttribute('datetime')!);
    if (isNaN(at.getTime())) return;
    time.title = at.toISOString();
    time.textContent = timeFormat.format(at);
    time.dataset.local = '';
  });
  document.querySelectorAll<HTMLElement>('[data-ref]:not([data-named])').forEach((ref) => {
    const label = labelOf(ref.dataset.ref!);
    if (label === null) return;
    ref.title = ref.textContent ?? '';
    ref.textContent = label;
    ref.dataset.named = '';
  });
  overdue();
}

/** Checkouts still out past their due time. */
export function overdue(): void {
  const now = Date.now();
  document.querySelectorAll('.row.checkout').forEach((row) => {
    const due = row.querySelector('[data-col="due"] time');
    const out = row.querySelector('.tag[data-v="checked_out"]');
    row.classList.toggle('overdue', !!(out && due && new Date(due.getAttribute('datetime')!).getTime() < now));
  });
}

/** Each list's count in its heading (`data-count-of`: only rows matching that selector). */
export function counts(): void {
  document.querySelectorAll<HTMLElement>('[data-count]').forEach((count) => {
    const list = document.getElementById(count.dataset.count!);
    if (!list) return;
    let rows = Array.from(list.querySelectorAll('.row'));
    const of = count.dataset.countOf;
    if (of) rows = rows.filter((row) => row.querySelector(of));
    count.textContent = String(rows.length);
  });
}
