/** pgfeed's public API: run the service in-process, or subscribe to one. */
export { startPgfeed, type PgfeedOptions, type PgfeedServer } from './server';
export { loadConfig, type Config, ConfigError } from './config';
export { migrate } from './db/migrate';
export * from './events/schema';
export * from './client/subscribe';
