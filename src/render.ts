/**
 * pgfeed/render: rows as `format=html` renders them, and the escaping `html` template, for server and browser
 * alike (no Node API, no server code): a page that renders its first paint on the server and later rows in
 * the browser from `live()` writes its markup once. The demo's pages do (docs/pages.md).
 */
export { Html, escapeHtml, html, trustedHtml } from './html';
export { type CellSource, RowRenderer, listDomId, rowDomId } from './streams/html';
export type { Cells } from './events/entity';
