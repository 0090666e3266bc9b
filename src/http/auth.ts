import type { Request } from 'express';
import { type JWTPayload, SignJWT, decodeProtectedHeader, jwtVerify, errors as joseErrors } from 'jose';
import type { Config } from '../config';
import { AppError } from '../errors';
import type { Scope } from '../streams/filter';
import { type ClaimNames, type Claims, DEFAULT_CLAIM_NAMES, mapClaims, writeClaim } from './claims';
import { type JwksOptions, RemoteKeySet } from './jwks';
import { TokenCache } from './token-cache';

export { type ClaimNames, type Claims, claims } from './claims';
export type { JwksOptions } from './jwks';

/** The cookie the pages use (EventSource cannot send an Authorization header). */
export const TOKEN_COOKIE = 'pgfeed_token';

/** Clock skew allowed between the token issuer and this server. */
const CLOCK_TOLERANCE_S = 60;

/** Algorithms accepted from a JWKS: RSA and P-256 signatures, never `none` or an HMAC keyed by a public key. */
const JWKS_ALGORITHMS = ['RS256', 'ES256'];

export interface AuthOptions {
  /** The identity provider's key set, beside the HS256 secret. */
  jwks?: JwksOptions;
  /** Required `iss` and `aud` of every token, whatever its algorithm (pgfeed's own tokens carry them too). */
  issuer?: string;
  audience?: string;
  /** Where the tenant and the roles are in a token (default `company`, `role`). */
  claimNames?: ClaimNames;
  maxTtlMs?: number;
}

/** The Auth settings of a configuration (the service and `pgfeed token` read the same ones). */
export function authOptions(config: Partial<Config>): AuthOptions {
  const { JWKS_URL: url, JWT_ISSUER: issuer, JWT_AUDIENCE: audience } = config;
  return {
    ...(config.MAX_TOKEN_TTL === undefined ? {} : { maxTtlMs: config.MAX_TOKEN_TTL }),
    ...(issuer === undefined ? {} : { issuer }),
    ...(audience === undefined ? {} : { audience }),
    claimNames: {
      tenant: config.JWT_TENANT_CLAIM ?? DEFAULT_CLAIM_NAMES.tenant,
      roles: config.JWT_ROLES_CLAIM ?? DEFAULT_CLAIM_NAMES.roles,
    },
    ...(url === undefined
      ? {}
      : {
          jwks: {
            url,
            ...(config.JWKS_COOLDOWN_MS === undefined ? {} : { cooldownMs: config.JWKS_COOLDOWN_MS }),
            ...(config.JWKS_TIMEOUT_MS === undefined ? {} : { timeoutMs: config.JWKS_TIMEOUT_MS }),
            ...(config.JWKS_MAX_BYTES === undefined ? {} : { maxBytes: config.JWKS_MAX_BYTES }),
          },
        }),
  };
}

/** What pgfeed signs for development and tests: one role or several, placed where the claim names say. */
export interface TokenClaims {
  sub: string;
  company: string;
  role?: string;
  roles?: string[];
}

/**
 * Signs and verifies HS256 tokens with one secret and, when a JWKS is given,
 * verifies RS256/ES256 tokens against the identity provider's current keys
 * (cached, read again for an unknown `kid`, so keys rotate without a restart;
 * see RemoteKeySet). The token's `alg` picks the path; each accepts only its own.
 * Either way `iss` and `aud` are checked when configured, a token may live at
 * most `maxTtlMs` (exp − iat) and may not be issued in the future, and the
 * tenant and roles are read where the claim names say.
 */
export class Auth {
  private readonly key: Uint8Array;
  private readonly keySet: RemoteKeySet | undefined;
  private readonly maxTtlS: number;
  private readonly names: ClaimNames;
  private readonly expected: { issuer?: string; audience?: string };
  /** Tokens verified before, until they expire (token-cache.ts). */
  private readonly verified = new TokenCache<Claims>(10_000);

  constructor(secret: string, options: AuthOptions = {}) {
    this.key = new TextEncoder().encode(secret);
    this.maxTtlS = Math.floor((options.maxTtlMs ?? 7 * 86_400_000) / 1000);
    this.keySet = options.jwks && new RemoteKeySet(options.jwks);
    this.names = options.claimNames ?? DEFAULT_CLAIM_NAMES;
    this.expected = {
      ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
      ...(options.audience === undefined ? {} : { audience: options.audience }),
    };
  }

  /** A token for `claims`, valid for `ttlSeconds` (development and tests), with the configured `iss` and `aud`. */
  async sign(c: TokenClaims, ttlSeconds = 3600): Promise<string> {
    const payload: Record<string, unknown> = {};
    writeClaim(payload, this.names.tenant, c.company);
    if (c.roles !== undefined || c.role !== undefined) writeClaim(payload, this.names.roles, c.roles ?? c.role);
    const jwt = new SignJWT(payload as JWTPayload)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(c.sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
    if (this.expected.issuer !== undefined) jwt.setIssuer(this.expected.issuer);
    if (this.expected.audience !== undefined) jwt.setAudience(this.expected.audience);
    return jwt.sign(this.key);
  }

  /**
   * Verifies a token; AppError('unauthorized') when it is missing, malformed,
   * forged or expired, or lacks a claim pgfeed reads; AppError('not_ready')
   * when its key cannot be known because the identity provider does not answer.
   */
  async verify(token: string | undefined): Promise<Claims> {
    if (!token) throw new AppError('unauthorized', 'a bearer token is required');
    const known = this.verified.get(token);
    if (known) return known;
    let payload: JWTPayload;
    try {
      const { alg } = decodeProtectedHeader(token);
      const checks = { requiredClaims: ['exp', 'sub'], ...this.expected };
      ({ payload } =
        this.keySet && alg !== 'HS256'
          ? await jwtVerify(token, this.keySet.resolve, { algorithms: JWKS_ALGORITHMS, ...checks })
          : await jwtVerify(token, this.key, { algorithms: ['HS256'], ...checks }));
    } catch (cause) {
      if (cause instanceof AppError) throw cause; // the key set could not be read: not the token's fault
      throw new AppError('unauthorized', rejection(cause), { cause });
    }
    const mapped = mapClaims(payload as Record<string, unknown>, this.names);
    if ('problem' in mapped) throw new AppError('unauthorized', mapped.problem);
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = mapped;
    if (iat !== undefined && iat > now + CLOCK_TOLERANCE_S)
      throw new AppError('unauthorized', 'the token was issued in the future');
    // A stolen long-lived token is a long-lived breach: refuse lifetimes past the cap.
    if (exp - (iat ?? now) > this.maxTtlS) throw new AppError('unauthorized', 'the token lives longer than MAX_TOKEN_TTL allows');
    this.verified.set(token, Object.freeze(mapped));
    return mapped;
  }

  /** Reads the token from the Authorization header, the cookie, or `access_token`, in that order. */
  async fromRequest(req: Request): Promise<Claims> {
    return this.verify(tokenOf(req));
  }
}

/** A stream a token asks to read: its company's events, or its own user's. */
export type StreamScope = Exclude<Scope, { kind: 'public' }>;

/**
 * Decides whether a verified token may read a stream (false: 403). pgfeed has
 * already checked that the token's tenant is the stream's company; this decides
 * the rest. It may throw an AppError to answer with that code instead.
 */
export type Authorize = (claims: Claims, scope: StreamScope) => boolean | Promise<boolean>;

/** The default policy: a company's stream for tokens holding one of `roles` (COMPANY_STREAM_ROLES), a user's own stream for any token. */
export function companyStreamRoles(roles: readonly string[]): Authorize {
  return (claims, scope) => scope.kind === 'user' || claims.roles.some((r) => roles.includes(r));
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
