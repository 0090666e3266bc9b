import { z } from 'zod';

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses "90s", "15m", "24h", "7d" or "500ms" into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const int = (min: number, max: number) =>
  z.string().trim().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 90s, 15m, 24h or 7d' });
    return z.NEVER;
  }
  return ms;
});

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

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

/** The environment pgfeed reads, with defaults. Names are part of the contract. */
export const envSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (HS256 key)').optional(),
  HEARTBEAT_MS: int(100, 3_600_000).default(15000),
  REPLAY_BUFFER_SIZE: int(1, 10_000_000).default(10000),
  EVENT_RETENTION: duration.default(24 * 3_600_000),
  MAX_CONNECTIONS: int(1, 10_000_000).default(20000),
  MAX_CONNECTIONS_PER_USER: int(1, 1_000_000).default(20),
  /** Stream connection attempts per client IP per minute. */
  RATE_LIMIT_PER_MINUTE: int(1, 10_000_000).default(600),
  /** Unsent bytes after which a slow stream is disconnected. */
  SLOW_CLIENT_MAX_BYTES: int(1024, 1_073_741_824).default(1_048_576),
  /** The `retry:` hint sent to EventSource clients. */
  RETRY_MS: int(0, 600_000).default(2000),
  /** How often the listener proves its connection is alive. */
  LISTENER_PING_MS: int(100, 600_000).default(5000),
  PRUNE_INTERVAL_MS: int(1000, 86_400_000).default(60_000),
  DATA_DIR: z.string().min(1).default('./.data/pg'),
  DB_POOL_SIZE: int(1, 1000).default(10),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  DEMO: bool.optional(),
});

export type Config = z.infer<typeof envSchema>;

/** A configuration value that cannot be used; `message` is the one line printed at exit. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most twelve-factor tools.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    const value = name === 'JWT_SECRET' || name === 'DATABASE_URL' ? '' : ` (got ${JSON.stringify(env[name])})`;
    throw new ConfigError(`invalid configuration: ${name} ${issue?.message ?? 'is invalid'}${value}`);
  }
  return parsed.data;
}
