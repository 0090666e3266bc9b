import type { Cells, EntityDefinition } from '../events/entity';
import type { ChangeEvent } from '../events/schema';
import { type Html, html } from '../html';

type Row = Record<string, unknown>;

/**
 * The DOM id of the element showing a row. Entity names are `[a-z][a-z0-9_]*`
 * and the key is hex-encoded, so two different (entity, key) pairs never share
 * an id, and no row id can equal a list's id (`listDomId`).
 */
export function rowDomId(entity: string, key: string): string {
  // TextEncoder rather than Buffer: the demo pages' browser bundle renders rows with this module too.
  const hex = Array.from(new TextEncoder().encode(key), (b) => b.toString(16).padStart(2, '0')).join('');
  return `row-${entity}-${hex}`;
}

/** The DOM id of the list that new rows of an entity are added to. */
export function listDomId(entity: string): string {
  return `list-${entity}`;
}

/** Where a renderer finds each entity's cells: the EntityRegistry on the server, a plain table in a browser. */
export interface CellSource {
  get(name: string): Pick<EntityDefinition, 'cells'> | undefined;
}

/** Renders rows of the registered entities as the pages and `format=html` fragments show them. */
export class RowRenderer {
  constructor(private readonly entities: CellSource) {}

  cells(entity: string, row: Row): Cells {
    const cells = this.entities.get(entity)?.cells;
    return cells ? cells(row).filter(([, value]) => value !== undefined) : [['row', JSON.stringify(row)]];
  }

  /**
   * The header cells of an entity's list: the labels `row` shows for `sample`
   * (public rows have fewer columns), or every label when there is no row yet.
   */
  header(entity: string, sample?: Row): Html {
    const cells = this.entities.get(entity)?.cells;
    const labels = cells
      ? cells(sample ?? {})
          .filter(([, value]) => sample === undefined || value !== undefined)
          .map(([label]) => label)
      : ['row'];
    return html`<div class="row head">${labels.map((label) => html`<span class="cell">${label}</span>`)}</div>`;
  }

  /**
   * One row; `data-key` carries the row's key for page scripts (actions on the
   * row). `eventId` marks a row that arrived live (the pages highlight it).
   */
  row(entity: string, key: string, row: Row, options: { eventId?: string; oob?: boolean } = {}): Html {
    const cells = this.cells(entity, row).map(
      ([label, value]) => html`<span class="cell" data-col="${label}">${value as unknown}</span>`,
    );
    const eventId = options.eventId === undefined ? '' : html` data-event-id="${options.eventId}"`;
    const oob = options.oob ? html` hx-swap-oob="true"` : '';
    return html`<div id="${rowDomId(entity, key)}" class="row ${entity}" data-key="${key}"${eventId}${oob}>${cells}</div>`;
  }

  /**
   * The `format=html` data of an event: an out-of-band swap for htmx's SSE
   * extension. An update replaces the row's element, a delete removes it, and
   * a create goes first in the entity's list (live lists show the newest
   * first, where it is seen), with the same markup the pages render, so a
   * live row looks exactly like a loaded one.
   */
  fragment(event: ChangeEvent): Html {
    const id = rowDomId(event.entity, event.key);
    if (event.op === 'delete') return html`<div id="${id}" hx-swap-oob="delete"></div>`;
    if (event.op === 'truncate') return html`<div hx-swap-oob="innerHTML:#${listDomId(event.entity)}"></div>`;
    const row = this.row(event.entity, event.key, event.row, { eventId: event.id, oob: event.op === 'update' });
    if (event.op === 'insert') return html`<div hx-swap-oob="afterbegin:#${listDomId(event.entity)}">${row}</div>`;
    return row;
  }
}
