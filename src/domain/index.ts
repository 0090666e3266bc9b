/**
 * The demo domain — companies, trips and bookings, stock and checkouts — as a
 * client of pgfeed: its tables (sql/domain/), its entity registrations, its
 * API and pages. It uses pgfeed exactly as any application would.
 */
import path from 'node:path';
import { Router } from 'express';
import { type MigrationSet, type RouteContext } from '../index';
import { perMinuteLimit } from '../express';
import { DOMAIN_ENTITIES } from './entities';
import { DOMAIN_OPERATIONS } from './openapi';
import { authorize } from './roles';
import { apiRoutes } from './routes/api';
import { pageRoutes } from './routes/pages';

export { demoBanner, demoSecret, seedDemo } from './seed';

/** The domain's tables; the record of what was applied lives beside them. */
export function domainMigrations(): MigrationSet {
  return { dir: path.resolve(__dirname, '..', '..', 'sql', 'domain'), table: { schema: 'public', name: 'domain_migrations' } };
}

export const domain = {
  entities: DOMAIN_ENTITIES,
  routes: (ctx: RouteContext) => [
    apiRoutes(ctx),
    // Anyone may load the public page: it is rate-limited like the streams.
    Router().use('/public', perMinuteLimit(ctx.config.RATE_LIMIT_PER_MINUTE, undefined, ctx.stopped)),
    pageRoutes(ctx),
  ],
  operations: DOMAIN_OPERATIONS,
  /** Who may read which stream, by the demo's roles. */
  authorize,
};
