/** pgfeed: run the service in-process, register your tables, add your routes. The client is `pgfeed/client`. */
export { startPgfeed, Pgfeed, type PgfeedOptions, type PgfeedStatus, type RouteContext } from './service';
export { type Config, type ConfigInput, ConfigError, loadConfig, parseConfig } from './config';
export { defineEntity, type Cells, type EntityDefinition } from './events/entity';
export type { ChangeEvent, EntityEvent, Op, ReadyData, ResetData } from './events/schema';
export { camelKeys } from './events/decode';
export { migrate, type MigrationSet } from './db/migrate';
export { AppError, type ErrorCode, PG } from './errors';
export { type Authorize, type Claims, type StreamScope, TOKEN_COOKIE, readCookie } from './http/auth';
export { parseBody, parseId, parseQuery, pgText, rowId } from './http/params';
export { perMinuteLimit } from './http/rate-limit';
export { type Operation, type OperationResponse, errorBody } from './http/openapi';
export { Html, escapeHtml, html, trustedHtml } from './html';
export { listDomId, rowDomId, type RowRenderer } from './streams/html';
export { createLogger, type Logger } from './log';
