import {
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type KeyLike,
  createLocalJWKSet,
  errors as joseErrors,
} from 'jose';
import { AppError } from '../errors';

/** Where tokens signed by an identity provider are verified: its key set and how it is read. */
export interface JwksOptions {
  url: string;
  /** Least time between two fetches of the key set (a token with an unknown `kid` triggers one). */
  cooldownMs?: number;
  /** The longest a fetch may take, from request to the last byte. */
  timeoutMs?: number;
  /** The largest key set read; a longer answer is refused after reading this much, never whole. */
  maxBytes?: number;
  /** After this long the key set is read again even for a known `kid` (withdrawn keys stop working). */
  maxAgeMs?: number;
}

/** After a failed fetch, the least time before the next attempt: an outage costs the provider one request a second at most. */
const RETRY_AFTER_FAILURE_MS = 1000;

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<KeyLike>;

/**
 * The identity provider's JSON Web Key Set, read with bounds jose's own remote
 * set (5.x) does not have: a byte cap on the answer, one deadline for the whole
 * read, and a clear difference between "the provider does not list this key"
 * (401: the token is bad) and "the provider cannot be asked" (503 `not_ready`:
 * the token may be fine, retry) — so an outage never signs users out.
 * A stale set keeps verifying the keys it holds while the provider is down.
 */
export class RemoteKeySet {
  private keys: ReturnType<typeof createLocalJWKSet> | undefined;
  private fetchedAt = 0;
  private failedAt = 0;
  private lastFailure: unknown;
  private pending: Promise<void> | undefined;
  private readonly url: URL;
  private readonly cooldownMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;

  constructor(options: JwksOptions) {
    this.url = new URL(options.url);
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxBytes = options.maxBytes ?? 262_144;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
  }

  /** jose's key resolver: the key for a token's header, reading the set again when it is stale or lacks the `kid`. */
  readonly resolve: KeyResolver = async (header, token) => {
    if (!this.keys) await this.refresh(false);
    // A stale set is read again behind this request, which goes on with the keys held (an outage does not delay it).
    else if (Date.now() - this.fetchedAt > this.maxAgeMs) void this.refresh(true);
    try {
      return await this.keys!(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || Date.now() - this.fetchedAt < this.cooldownMs) throw error;
      // An unknown kid may be a key the provider published since (rotation): read the set once more.
      await this.refresh(false);
      return this.keys!(header, token);
    }
  };

  /** Reads the set (one read at a time); when it cannot and `staleOk`, the held set stays in use (never rejects then). */
  private async refresh(staleOk: boolean): Promise<void> {
    if (!this.pending) {
      this.pending = this.fetch().finally(() => (this.pending = undefined));
    }
    try {
      await this.pending;
    } catch (cause) {
      if (staleOk) return;
      throw new AppError('not_ready', `the identity provider's key set cannot be read (${reason(cause)}); retry shortly`, {
        cause,
      });
    }
  }

  private async fetch(): Promise<void> {
    if (Date.now() - this.failedAt < RETRY_AFTER_FAILURE_MS) throw this.lastFailure;
    try {
      const set = await readBounded(this.url, this.timeoutMs, this.maxBytes);
      this.keys = createLocalJWKSet(set);
      this.fetchedAt = Date.now();
    } catch (error) {
      this.failedAt = Date.now();
      this.lastFailure = error;
      throw error;
    }
  }
}

/** A key set's JSON, read within `timeoutMs` and `maxBytes`. */
async function readBounded(url: URL, timeoutMs: number, maxBytes: number): Promise<JSONWebKeySet> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: 'application/json' },
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length'));
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new Error(`the answer is ${declared} bytes, more than JWKS_MAX_BYTES (${maxBytes})`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`the answer is longer than JWKS_MAX_BYTES (${maxBytes})`);
    }
    chunks.push(value);
  }
  const set = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  if (typeof set !== 'object' || set === null || !Array.isArray((set as { keys?: unknown }).keys)) {
    throw new Error('the answer is not a JSON Web Key Set');
  }
  return set as JSONWebKeySet;
}

/** Why a fetch failed, in a few words (never the body). By name: fetch's errors may come from another realm. */
function reason(cause: unknown): string {
  const error = typeof cause === 'object' && cause !== null ? (cause as { name?: unknown; message?: unknown }) : {};
  const name = String(error.name);
  if (name === 'TimeoutError') return 'no answer in time';
  if (name === 'SyntaxError') return 'the answer is not JSON';
  if (name === 'TypeError') return 'the provider is not reachable'; // fetch's "fetch failed": refused, reset, DNS
  return typeof error.message === 'string' ? error.message : 'unknown error';
}
