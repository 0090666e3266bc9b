/**
 * Errors that mean "the database cannot be reached right now" rather than "this
 * request is wrong": a restart, a failover, a dropped connection. The HTTP API
 * answers them 503 not_ready, so clients retry instead of reporting a bug.
 */

/** postgres.js's codes for a connection that failed or went away (its README, "Connection errors"). */
export const DRIVER_CONNECTION_ERRORS = ['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT'];

/** Node's errno codes for a server that refused, reset or stopped reading the TCP connection. */
export const SOCKET_ERRORS = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'];

/** SQLSTATEs of class 57 (operator intervention) sent while the server stops or starts. */
export const SQLSTATE = {
  /** admin_shutdown: smart/fast shutdown, or pg_terminate_backend. */
  adminShutdown: '57P01',
  /** crash_shutdown: another backend crashed, or immediate shutdown. */
  crashShutdown: '57P02',
  /** cannot_connect_now: the server is starting up, shutting down or in recovery. */
  cannotConnectNow: '57P03',
} as const;

/** SQLSTATE class 08, connection_exception (08000, 08003, 08006, 08P01, …). */
export const CONNECTION_EXCEPTION_CLASS = '08';

const SQLSTATES: readonly string[] = Object.values(SQLSTATE);

/** True when `err` (or an error in its `cause` chain) says the database connection failed. */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (DRIVER_CONNECTION_ERRORS.includes(code) || SOCKET_ERRORS.includes(code) || SQLSTATES.includes(code)) return true;
    if (code.length === 5 && code.startsWith(CONNECTION_EXCEPTION_CLASS)) return true;
  }
  return false;
}

/**
 * SQLSTATE classes of a statement refused for what it carries, not because of
 * the connection: 22 data exception, 23 integrity constraint, 42 syntax error
 * or access rule (a cast to a type that no longer resolves), 0A feature not
 * supported. Sending the same statement again fails the same way.
 */
const DATA_ERROR_CLASSES: readonly string[] = ['22', '23', '42', '0A'];

/** True when PostgreSQL refused the statement for its data (see DATA_ERROR_CLASSES). */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && DATA_ERROR_CLASSES.includes(code.slice(0, 2));
}
