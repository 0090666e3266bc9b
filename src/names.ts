/** Names shared between the SQL in sql/ and the code: one place to change them. */
export const FEED_SCHEMA = 'pgfeed';
export const MIGRATIONS_TABLE = 'migrations';
/** application_name of the LISTEN connection, so operators find it in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'pgfeed-listener';
export const POOL_APPLICATION_NAME = 'pgfeed';
/** Advisory lock held while migrating, so two instances starting at once do not race. */
export const MIGRATION_LOCK_KEY = 7049221830150010n;
/** application_name of the WAL capturer's replication connection. */
export const CAPTURE_APPLICATION_NAME = 'pgfeed-capture';
/** Each listener's own channel for its NOTIFY round trip is this and a random suffix. */
export const PROBE_CHANNEL_PREFIX = 'pgfeed_probe_';
