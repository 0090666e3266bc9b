import { z } from 'zod';

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses "90s", "15m", "24h", "7d" or "500ms" into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

// Every value is accepted as the environment gives it (text) or as a program
// passes it (number, boolean), and checked by the same rules either way.
const int = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
    z
      .number({ error: 'must be a whole number' })
      .int('must be a whole number')
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`),
  );

const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? value : parseDuration(value);
  if (ms === undefined || !Number.isInteger(ms) || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 90s, 15m, 24h or 7d (or milliseconds)' });
    return z.NEVER;
  }
  return ms;
});

const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

const postgresUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      return ['postgres:', 'postgresql:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, 'must be a postgres:// or postgresql:// URL');

/**
 * Every setting pgfeed has, with its default. The environment (`loadConfig`)
 * and programmatic overrides (`startPgfeed({ config })`) go through this one
 * schema. The names are the environment variables'; docs/operations.md lists them.
 */
const httpUrl = z
  .string()
  .trim()
  .refine((v) => URL.canParse(v) && ['http:', 'https:'].includes(new URL(v).protocol), 'must be an http:// or https:// URL');

/** Loopback hosts, where a key set over plain http cannot be read or changed by anyone on the network. */
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/** An https URL, or http on this machine: a key set read over the network in clear could be swapped for an attacker's. */
const jwksUrl = httpUrl.refine((v) => {
  const url = new URL(v);
  return url.protocol === 'https:' || LOOPBACK.test(url.hostname);
}, 'must be an https:// URL (plain http only on localhost / 127.0.0.1 / [::1])');

/** "admin, cashier" (or a list): names, none empty. */
const nameList = z.union([z.string(), z.array(z.string())]).transform((value, ctx) => {
  const items = (typeof value === 'string' ? value.split(',') : value).map((o) => o.trim());
  if (items.length === 0 || items.some((i) => i === '')) {
    ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of names, none empty' });
    return z.NEVER;
  }
  return items;
});

/** "https://a.example, https://b.example" (or a list): each an origin, no path; `*` allows any. */
const originList = z.union([z.string(), z.array(z.string())]).transform((value, ctx) => {
  const items = (typeof value === 'string' ? value.split(',') : value).map((o) => o.trim()).filter(Boolean);
  for (const origin of items) {
    if (origin === '*') continue;
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
      ctx.addIssue({
        code: 'custom',
        message: `must be origins such as https://app.example.com (got ${JSON.stringify(origin)})`,
      });
      return z.NEVER;
    }
  }
  return items;
});

/** express's `trust proxy`: true, false, a number of hops, or addresses and subnets ("loopback, 10.0.0.0/8"). */
const trustProxy = z.union([z.boolean(), z.number().int().min(0), z.string()]).transform((value): boolean | number | string => {
  if (typeof value !== 'string') return value;
  const v = value.trim();
  if (v === 'true' || v === 'false') return v === 'true';
  return /^\d+$/.test(v) ? Number(v) : v;
});

export const configSchema = z.strictObject({
  DATABASE_URL: postgresUrl.optional(),
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  /** When set, /readyz and /metrics are served on this port (on HOST) and not on PORT. */
  OPS_PORT: int(0, 65535).optional(),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (HS256 key)').optional(),
  /** The longest lifetime (exp − iat) a token may have; longer ones are refused. */
  MAX_TOKEN_TTL: duration.default(7 * 86_400_000),
  HEARTBEAT_MS: int(100, 3_600_000).default(15000),
  REPLAY_BUFFER_SIZE: int(1, 10_000_000).default(10000),
  /** Bytes of events the replay ring may hold; an event over an eighth of it is left to the log. */
  REPLAY_BUFFER_BYTES: int(65_536, 68_719_476_736).default(67_108_864),
  EVENT_RETENTION: duration.default(24 * 3_600_000),
  MAX_CONNECTIONS: int(1, 10_000_000).default(20000),
  MAX_CONNECTIONS_PER_USER: int(1, 1_000_000).default(20),
  /** Anonymous (public) streams in all; default half of MAX_CONNECTIONS, so signed-in users always have room. */
  MAX_ANONYMOUS_CONNECTIONS: int(0, 10_000_000).optional(),
  /** Anonymous streams from one client address. */
  MAX_ANONYMOUS_CONNECTIONS_PER_IP: int(1, 1_000_000).default(10),
  /** Stream connection attempts per client IP per minute. */
  RATE_LIMIT_PER_MINUTE: int(1, 10_000_000).default(600),
  /** Unsent bytes (live) or held bytes (while replaying) after which a stream is disconnected. */
  SLOW_CLIENT_MAX_BYTES: int(1024, 1_073_741_824).default(1_048_576),
  /** The `retry:` hint sent to EventSource clients. */
  RETRY_MS: int(0, 600_000).default(2000),
  /** How often the listener proves its connection is alive. */
  LISTENER_PING_MS: int(100, 600_000).default(5000),
  /** Listener reconnect backoff: min(max, min · 2^attempt), ±50 % jitter. */
  LISTENER_BACKOFF_MIN_MS: int(1, 600_000).default(100),
  LISTENER_BACKOFF_MAX_MS: int(1, 3_600_000).default(10_000),
  /** Events read per query when the listener catches up and when a stream replays from the log. */
  CATCH_UP_BATCH: int(1, 1_000_000).default(1000),
  REPLAY_PAGE_SIZE: int(1, 1_000_000).default(500),
  /** Streams replaying from the log at once; more wait their turn, so replays cannot starve the pool. */
  MAX_CONCURRENT_REPLAYS: int(1, 10_000).default(4),
  /** A stream whose client reads nothing for this long (its socket stays full) is cut; it resumes with Last-Event-ID. */
  STALLED_STREAM_MS: int(100, 3_600_000).default(30_000),
  PRUNE_INTERVAL_MS: int(1000, 86_400_000).default(60_000),
  /** The fallback re-read of the watched tables, for a change whose NOTIFY never arrived (docs/operations.md). */
  CATALOG_POLL_MS: int(1000, 86_400_000).default(60_000),
  /** Events deleted per pruning transaction, so writers never wait on it. */
  PRUNE_BATCH: int(1, 1_000_000).default(5000),
  /** Largest JSON request body accepted by the API. */
  MAX_BODY_BYTES: int(1024, 16_777_216).default(65_536),
  /** SIGTERM to exit: streams end, connections close, the database pool drains within this. */
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(9000),
  /** How changes reach the log: row triggers + NOTIFY (any PostgreSQL), or logical replication (wal_level=logical). */
  CAPTURE: z.enum(['trigger', 'wal']).default('trigger'),
  /** CAPTURE=wal: where the replication connection goes, when not through DATABASE_URL (e.g. past a pooler). Same database. */
  CAPTURE_DATABASE_URL: postgresUrl.optional(),
  /** CAPTURE=wal: the replication slot (default pgfeed_<database>). */
  CAPTURE_SLOT: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'must be 1 to 63 lowercase letters, digits or underscores')
    .optional(),
  /** CAPTURE=wal: changes appended per transaction. */
  CAPTURE_BATCH: int(1, 1_000_000).default(5000),
  /** CAPTURE=wal: under load, how long a batch may fill before it is appended (0: append as soon as possible). */
  CAPTURE_LINGER_MS: int(0, 10_000).default(20),
  /**
   * CAPTURE=wal: after this long without a byte from the replication stream the capturer asks the
   * server whether it still hears the connection; if not, it reconnects (a half-open connection is
   * otherwise noticed only by TCP, minutes later).
   */
  CAPTURE_HEARTBEAT_MS: int(100, 600_000).default(10_000),
  /** CAPTURE=wal: how often a standby instance tries to take over the slot. */
  CAPTURE_TAKEOVER_MS: int(50, 600_000).default(1000),
  /** CAPTURE=wal: while nothing changes, how often the capturing instance moves the slot with a heartbeat (0: never). */
  CAPTURE_SLOT_HEARTBEAT_MS: int(0, 3_600_000).default(10_000),
  /** CAPTURE=wal: run the capturer in a worker thread of its own, so the fan-out to clients does not delay it (false: on the main event loop). */
  CAPTURE_THREAD: bool.default(true),
  /** Where the listener's LISTEN connection goes, when not through DATABASE_URL (e.g. past a pooler in transaction mode). Same database. */
  LISTENER_DATABASE_URL: postgresUrl.optional(),
  DATA_DIR: z.string().min(1).default('./.data/pg'),
  EMBEDDED_PG_PORT: int(1, 65535).default(54329),
  DB_POOL_SIZE: int(1, 1000).default(10),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  DEMO: bool.optional(),
  /** Browser origins allowed to call the API and open streams (CORS); unset: same origin only. */
  CORS_ORIGINS: originList.default([]),
  /**
   * How long an idle HTTP connection is kept open. Longer than a proxy's upstream keep-alive
   * (nginx `keepalive_timeout` 60s in deploy/nginx.conf), so the proxy never reuses a connection
   * this server is closing at that moment (a 502 for the request it sent).
   */
  HTTP_KEEP_ALIVE_MS: int(1000, 3_600_000).default(65_000),
  /**
   * Connections the kernel may queue for accept() (listen's backlog; capped by
   * net.core.somaxconn). Node's 511 overflowed when the benchmark opened 768
   * streams at once: the kernel drops what overflows, and clients wait for a
   * retransmission or, on a busy server, fail (docs/benchmark.md).
   */
  LISTEN_BACKLOG: int(1, 65535).default(4096),
  /** Handed to express's `trust proxy`, so rate limits and logs see the client behind a proxy. */
  TRUST_PROXY: trustProxy.default(false),
  /** Your identity provider's JSON Web Key Set: RS256/ES256 tokens are verified against it, beside HS256 ones. */
  JWKS_URL: jwksUrl.optional(),
  /** Required `iss` and `aud` of every token (HS256 and JWKS alike); `pgfeed token` and signToken() set them. */
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  /** Least time between two JWKS fetches; a token with an unknown `kid` triggers one (key rotation). */
  JWKS_COOLDOWN_MS: int(0, 3_600_000).default(30_000),
  /** The longest a JWKS fetch may take, to the last byte; past it (or on an error) a token with an unknown key is a 503, not a 401. */
  JWKS_TIMEOUT_MS: int(100, 60_000).default(5000),
  /** The largest JWKS answer read; a longer one is cut off there and refused. */
  JWKS_MAX_BYTES: int(1024, 16_777_216).default(262_144),
  /** Where a token holds its tenant: a dotted path (`tenant.id`) or a namespaced claim (`https://example.com/org_id`). */
  JWT_TENANT_CLAIM: z.string().trim().min(1).default('company'),
  /** Where a token holds its roles, a string or a list of strings (e.g. `realm_access.roles`). */
  JWT_ROLES_CLAIM: z.string().trim().min(1).default('role'),
  /** Roles that may read their company's stream (`/events/company/:id`) when the application gives no `authorize`. */
  COMPANY_STREAM_ROLES: nameList.default(['admin', 'cashier']),
});

export type Config = z.output<typeof configSchema>;
/** Settings as a program passes them: any subset, numbers or text. */
export type ConfigInput = Partial<z.input<typeof configSchema>>;

/** A configuration value that cannot be used; `message` is the one line printed at exit. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const SECRET = new Set(['JWT_SECRET', 'DATABASE_URL', 'CAPTURE_DATABASE_URL', 'LISTENER_DATABASE_URL']);

/** Validates settings; throws ConfigError naming the first bad one. */
export function parseConfig(input: Record<string, unknown>): Config {
  const parsed = configSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const name = String(issue?.path[0] ?? 'configuration');
  if (issue?.code === 'unrecognized_keys')
    throw new ConfigError(`invalid configuration: unknown setting ${issue.keys.join(', ')}`);
  const value = SECRET.has(name) ? '' : ` (got ${JSON.stringify(input[name])})`;
  throw new ConfigError(`invalid configuration: ${name} ${issue?.message ?? 'is invalid'}${value}`);
}

/**
 * Reads the settings from an environment (the CLI passes process.env; the
 * library never reads it). Variables pgfeed does not know are ignored, and
 * empty strings count as unset, as in most twelve-factor tools.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const known = Object.keys(configSchema.shape);
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => known.includes(k) && v !== undefined && v !== ''));
  return parseConfig(present);
}
