import type { Request } from 'express';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { z } from 'zod';
import { AppError } from '../errors';

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

/** Signs and verifies HS256 tokens with one secret. */
export class Auth {
  private readonly key: Uint8Array;
  private readonly maxTtlS: number;

  /** `maxTtlMs`: the longest lifetime (exp − iat) a token may claim. */
  constructor(secret: string, options: { maxTtlMs?: number } = {}) {
    this.key = new TextEncoder().encode(secret);
    this.maxTtlS = Math.floor((options.maxTtlMs ?? 7 * 86_400_000) / 1000);
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
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] }));
    } catch (cause) {
      const message =
        cause instanceof joseErrors.JWTExpired
          ? 'the token has expired'
          : cause instanceof joseErrors.JWSSignatureVerificationFailed
            ? 'the token signature is invalid'
            : 'the token is invalid';
      throw new AppError('unauthorized', message, { cause });
    }
    const parsed = claims.safeParse(payload);
    if (!parsed.success) throw new AppError('unauthorized', 'the token lacks the sub, company, role or exp claim');
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = parsed.data;
    if (iat !== undefined && iat > now + CLOCK_TOLERANCE_S)
      throw new AppError('unauthorized', 'the token was issued in the future');
    // A stolen long-lived token is a long-lived breach: refuse lifetimes past the cap.
    if (exp - (iat ?? now) > this.maxTtlS) throw new AppError('unauthorized', 'the token lives longer than MAX_TOKEN_TTL allows');
    return parsed.data;
  }

  /** Reads the token from the Authorization header, the cookie, or `access_token`, in that order. */
  async fromRequest(req: Request): Promise<Claims> {
    return this.verify(tokenOf(req));
  }
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
