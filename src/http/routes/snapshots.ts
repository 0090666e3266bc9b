import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { Sql } from '../../db/connect';
import type { EntityCatalog } from '../../events/catalog';
import type { EntityRegistry } from '../../events/entity';
import { readSnapshotPage } from '../../events/snapshot';
import type { ServiceMetrics } from '../../metrics';
import type { Scope } from '../../streams/filter';
import type { Auth, Authorize } from '../auth';
import { commaList, parseQuery, single } from '../params';
import { perMinuteLimit } from '../rate-limit';
import { checkWhere, parseWhere } from '../where';
import { scopeOf } from './events';

/** The query parameters of every snapshot (and `where.<column>` filters, see ../where.ts). */
export const snapshotQuery = z.object({
  entities: commaList(100).optional(),
  keys: commaList(1000).optional(),
  limit: single
    .regex(/^\d{1,4}$/, 'must be a whole number from 1 to 1000')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000'))
    .optional(),
  after: single.max(2000, 'must be the `next` cursor of a previous page').optional(),
  access_token: single.optional(),
});

/** The default page size. */
export const SNAPSHOT_LIMIT = 500;

export interface SnapshotRoutesDeps {
  auth: Auth;
  /** Who may read which scope: the streams' rule. */
  authorize: Authorize;
  sql: Sql;
  catalog: EntityCatalog;
  entities: EntityRegistry;
  metrics: ServiceMetrics;
  rateLimitPerMinute: number;
  /** Aborted when the service stops: the rate limiter's store goes with it. */
  stopped: AbortSignal;
}

/**
 * GET /snapshots/company/:companyId, /snapshots/user, /snapshots/public/:companyId:
 * the rows each stream scope may see, with the same auth and the same filters
 * as the stream, in keyset pages each with its exact lastEventId.
 */
export function snapshotRoutes(deps: SnapshotRoutesDeps): Router {
  const { sql, catalog, entities: registry, metrics } = deps;
  const router = Router();
  router.use(perMinuteLimit(deps.rateLimitPerMinute, () => metrics.rejected.inc({ reason: 'rate_limited' }), deps.stopped));

  const page =
    (kind: Scope['kind']): RequestHandler =>
    async (req, res) => {
      const query = parseQuery(req, snapshotQuery); // a malformed query is a 400 before any token check
      const where = parseWhere(req.query);
      const { scope } = await scopeOf(deps, req, kind);
      const entities = await catalog.resolve(scope.kind, query.entities);
      checkWhere(where, entities, scope);
      res.setHeader('Cache-Control', 'no-store');
      res.json(
        await readSnapshotPage(sql, catalog, registry, {
          scope,
          entities,
          where,
          limit: query.limit ?? SNAPSHOT_LIMIT,
          ...(query.keys ? { keys: query.keys } : {}),
          ...(query.after === undefined ? {} : { after: query.after }),
        }),
      );
    };

  router.get('/company/:companyId', page('company'));
  router.get('/user', page('user'));
  router.get('/public/:companyId', page('public'));
  return router;
}
