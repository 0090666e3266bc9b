import type { Request } from 'express';
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, errors as joseErrors } from 'jose';
import { z } from 'zod';
import { AppError } from '../errors';
import { TokenCache } from './token-cache';

export const role = z.enum(['admin', 'cashier', 'customer']);
export type Role = z.infer<typeof role>;

/** The claims pgfeed reads from a token. */
export const claims = z.object({
  sub: z.string().min(1),
  company: z.string().min(1),
  role,
  exp: z.number().int(),
  iat: z.number().int().optional(),
});
export type Claims = z.infer<typeof claims>;

/** The cookie the pages use (EventSource cannot send an Authorization header). */
export const TOKEN_COOKIE = 'pgfeed_token';

/** Clock skew allowed between the token issuer and this server. */
const CLOCK_TOLERANCE_S = 60;

/** Where tokens signed by an identity provider are verified: its key set, and the `iss`/`aud` they must carry. */
export interface JwksOptions {
  url: string;
  issuer?: string;
  audience?: string;
  /** Least time between two fetches of the key set (a token with an unknown `kid` triggers one). */
  cooldownMs?: number;
}

/** Algorithms accepted from a JWKS: RSA and P-256 signatures, never `none` or an HMAC keyed by a public key. */
const JWKS_ALGORITHMS = ['RS256', 'ES256'];

/**
 * Signs and verifies HS256 tokens with one secret and, when a JWKS is given,
 * verifies RS256/ES256 tokens against the identity provider's current keys
 * (jose's remote key set: cached, refetched for an unknown `kid`, so keys rotate
 * without a restart). The token's `alg` picks the path; each accepts only its own.
 * Either way a token may live at most `maxTtlMs` (exp − iat) and may not be issued in the future.
 */
export class Auth {
  private readonly key: Uint8Array;
  private readonly jwks: { keys: ReturnType<typeof createRemoteJWKSet>; issuer?: string; audience?: string } | undefined;
  private readonly maxTtlS: number;
  /** Tokens verified before, until they expire (token-cache.ts). */
  private readonly verified = new TokenCache<Claims>(10_000);

  constructor(secret: string, options: { jwks?: JwksOptions; maxTtlMs?: number } = {}) {
    const { jwks } = options;
    this.key = new TextEncoder().encode(secret);
    this.maxTtlS = Math.floor((options.maxTtlMs ?? 7 * 86_400_000) / 1000);
    this.jwks = jwks && {
      keys: createRemoteJWKSet(new URL(jwks.url), { cooldownDuration: jwks.cooldownMs ?? 30_000 }),
      ...(jwks.issuer === undefined ? {} : { issuer: jwks.issuer }),
      ...(jwks.audience === undefined ? {} : { audience: jwks.audience }),
    };
  }

  /** A token for `claims`, valid for `ttlSeconds` (development and tests). */
  async sign(c: { sub: string; company: string; role: Role }, ttlSeconds = 3600): Promise<string> {
    return new SignJWT({ company: c.company, role: c.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(c.sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }

  /** Verifies a token; AppError('unauthorized') when it is missing, malformed, forged or expired. */
  async verify(token: string | undefined): Promise<Claims> {
    if (!token) throw new AppError('unauthorized', 'a bearer token is required');
    const known = this.verified.get(token);
    if (known) return known;
    let payload: unknown;
    try {
      const { alg } = decodeProtectedHeader(token);
      if (this.jwks && alg !== 'HS256') {
        const { keys, issuer, audience } = this.jwks;
        ({ payload } = await jwtVerify(token, keys, {
          algorithms: JWKS_ALGORITHMS,
          requiredClaims: ['exp', 'sub'],
          ...(issuer === undefined ? {} : { issuer }),
          ...(audience === undefined ? {} : { audience }),
        }));
      } else {
        ({ payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] }));
      }
    } catch (cause) {
      throw new AppError('unauthorized', rejection(cause), { cause });
    }
    const parsed = claims.safeParse(payload);
    if (!parsed.success) throw new AppError('unauthorized', 'the token lacks the sub, company, role or exp claim');
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = parsed.data;
    if (iat !== undefined && iat > now + CLOCK_TOLERANCE_S)
      throw new AppError('unauthorized', 'the token was issued in the future');
    // A stolen long-lived token is a long-lived breach: refuse lifetimes past the cap.
    if (exp - (iat ?? now) > this.maxTtlS) throw new AppError('unauthorized', 'the token lives longer than MAX_TOKEN_TTL allows');
    this.verified.set(token, Object.freeze(parsed.data));
    return parsed.data;
  }

  /** Reads the token from the Authorization header, the cookie, or `access_token`, in that order. */
  async fromRequest(req: Request): Promise<Claims> {
    return this.verify(tokenOf(req));
  }
}

/** Why a token was refused, in words a client can act on (never the token itself). */
function rejection(cause: unknown): string {
  if (cause instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (cause instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is invalid';
  if (cause instanceof joseErrors.JWKSNoMatchingKey) return 'the token is signed by a key the identity provider does not list';
  if (cause instanceof joseErrors.JWTClaimValidationFailed && (cause.claim === 'iss' || cause.claim === 'aud')) {
    return `the token's ${cause.claim} claim is not accepted`;
  }
  if (cause instanceof joseErrors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm that is not accepted';
  return 'the token is invalid';
}

/** The raw token of a request, if any. */
export function tokenOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new AppError('unauthorized', 'the Authorization header must be "Bearer <token>"');
    return m[1];
  }
  const cookie = readCookie(req.headers.cookie, TOKEN_COOKIE);
  if (cookie) return cookie;
  const q = req.query.access_token;
  if (q === undefined) return undefined;
  if (typeof q !== 'string') throw new AppError('unauthorized', 'access_token must be given once');
  return q;
}

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
