/**
 * The demo's roles. pgfeed's core names no role: the demo reads its own from
 * the token's roles (JWT_ROLES_CLAIM, default `role`) and decides with them who
 * may read a company's stream (`authorize`) and who may write what (its API).
 */
import { z } from 'zod';
import { AppError, type Authorize, type Claims } from '../index';

export const demoRole = z.enum(['admin', 'cashier', 'customer']);
export type DemoRole = z.infer<typeof demoRole>;

/** The token's one demo role; any other token is not a demo user: 401, as a malformed token is. */
export function roleOf(claims: Claims): DemoRole {
  const role = claims.roles.length === 1 ? demoRole.safeParse(claims.roles[0]) : undefined;
  if (!role?.success) throw new AppError('unauthorized', `the token's role must be one of ${demoRole.options.join(', ')}`);
  return role.data;
}

/** Whether the token holds one of `roles` (pages that show or hide a control; they never throw). */
export const hasRole = (claims: Claims, ...roles: DemoRole[]): boolean =>
  claims.roles.some((r) => (roles as string[]).includes(r));

/** Company streams for admins and cashiers, a user's own stream for every demo user. */
export const authorize: Authorize = (claims, scope) => {
  const role = roleOf(claims);
  return scope.kind === 'user' || role !== 'customer';
};
