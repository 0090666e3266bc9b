/**
 * pgfeed/express: helpers for an application's own routes beside the streams
 * (`startPgfeed({ routes })`): request parsing with zod, rate limits, the token
 * cookie, HTML that escapes by construction, OpenAPI descriptions.
 */
export { PG } from './errors';
export { type Claims, TOKEN_COOKIE, readCookie } from './http/auth';
export { parseBody, parseId, parseQuery, pgText, rowId } from './http/params';
export { perMinuteLimit } from './http/rate-limit';
export { type Operation, type OperationResponse, errorBody } from './http/openapi';
export { camelKeys } from './events/decode';
export { Html, escapeHtml, html, trustedHtml } from './html';
export { listDomId, rowDomId, type RowRenderer } from './streams/html';
