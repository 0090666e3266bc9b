import { z } from 'zod';

/**
 * Where a token carries what pgfeed needs: the tenant (JWT_TENANT_CLAIM) and the
 * roles (JWT_ROLES_CLAIM). The defaults are pgfeed's own tokens: `company`, `role`.
 */
export interface ClaimNames {
  tenant: string;
  roles: string;
}

export const DEFAULT_CLAIM_NAMES: ClaimNames = { tenant: 'company', roles: 'role' };

/** The claims pgfeed reads from a verified token, wherever the identity provider put them. */
export const claims = z.object({
  sub: z.string().min(1),
  /** The tenant: a company's stream is open only to tokens of that company. */
  company: z.string().min(1),
  /** The token's roles (a single role claim is a list of one; none: empty). */
  roles: z.array(z.string()),
  exp: z.number().int(),
  iat: z.number().int().optional(),
  /** The whole verified payload, for `authorize` decisions on claims pgfeed does not read. */
  payload: z.record(z.string(), z.unknown()),
});
export type Claims = z.infer<typeof claims>;

/**
 * A claim name as a path: a namespaced name (`https://example.com/org_id`, as
 * Auth0 requires for custom claims) is one claim even though it has dots; any
 * other name is a dotted path into nested objects (`realm_access.roles`, Keycloak).
 */
export function claimPath(name: string): string[] {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(name) ? [name] : name.split('.');
}

/** The value at a claim name (undefined when any step is missing or not an object). */
export function readClaim(payload: Record<string, unknown>, name: string): unknown {
  let at: unknown = payload;
  for (const step of claimPath(name)) {
    if (typeof at !== 'object' || at === null || Array.isArray(at) || !Object.hasOwn(at, step)) return undefined;
    at = (at as Record<string, unknown>)[step];
  }
  return at;
}

/** Sets the value at a claim name, creating the nested objects on the way (for tokens pgfeed signs). */
export function writeClaim(payload: Record<string, unknown>, name: string, value: unknown): void {
  const path = claimPath(name);
  let at = payload;
  for (const step of path.slice(0, -1)) {
    const next = at[step];
    at = (at[step] = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : {}) as Record<string, unknown>;
  }
  at[path.at(-1)!] = value;
}

const roleList = z.union([z.string().transform((r) => [r]), z.array(z.string())]);

/**
 * The claims of a verified payload under `names`, or why they cannot be read:
 * the message names the claim as configured, so an operator sees which setting to fix.
 */
export function mapClaims(payload: Record<string, unknown>, names: ClaimNames): Claims | { problem: string } {
  const tenant = readClaim(payload, names.tenant);
  if (typeof tenant !== 'string' || tenant === '') {
    return {
      problem: `the token lacks the tenant claim ${JSON.stringify(names.tenant)} (JWT_TENANT_CLAIM), or it is not a string`,
    };
  }
  const rawRoles = readClaim(payload, names.roles);
  const roles = rawRoles === undefined ? { success: true as const, data: [] } : roleList.safeParse(rawRoles);
  if (!roles.success) {
    return {
      problem: `the token's roles claim ${JSON.stringify(names.roles)} (JWT_ROLES_CLAIM) must be a string or a list of strings`,
    };
  }
  const parsed = claims.safeParse({
    sub: payload.sub,
    company: tenant,
    roles: roles.data,
    exp: payload.exp,
    iat: payload.iat,
    payload,
  });
  if (!parsed.success) return { problem: 'the token lacks the sub or exp claim' };
  return parsed.data;
}
