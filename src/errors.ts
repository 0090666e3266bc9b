/** Stable error codes of the HTTP API; README lists them. */
export const ERROR_STATUS = {
  invalid_body: 400,
  invalid_params: 400,
  invalid_query: 400,
  unauthorized: 401,
  forbidden: 403,
  cross_origin: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  too_many_connections: 429,
  not_ready: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error with a stable `code`, mapped to an HTTP status in one place. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): { error: Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

/** PostgreSQL SQLSTATEs the service reacts to (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const PG = {
  checkViolation: '23514',
} as const;
