/**
 * pgfeed: run the service in-process on your tables. What an application calls,
 * and nothing else; route-building helpers are `pgfeed/express`, the client is
 * `pgfeed/client`.
 */
export { startPgfeed, type Pgfeed, type PgfeedEvents, type PgfeedOptions, type PgfeedStatus, type RouteContext } from './service';
export { type Config, type ConfigInput, ConfigError, loadConfig } from './config';
export { defineEntity, type Cells, type Entities, type EntityDefinition } from './events/entity';
export type { ChangeEvent, EntityEvent, Op, ReadyData, ResetData } from './events/schema';
export { migrate, type MigrationSet } from './db/migrate';
export { AppError, type ErrorCode } from './errors';
export type { Authorize, Claims, StreamScope, TokenClaims } from './http/auth';
export type { ListenerState } from './listener/listener';
export type { CaptureStatus } from './capture';
export type { Sql } from './db/connect';
export type { RowRenderer } from './streams/html';
export { createLogger, type Logger } from './log';
