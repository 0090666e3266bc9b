import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import type { ServiceMetrics } from '../../metrics';
import type { Feed, StreamRequest } from '../../streams/feed';
import type { EntityCatalog } from '../../events/catalog';
import type { Condition, Scope, Where } from '../../streams/filter';
import type { Auth, Claims } from '../auth';
import { perMinuteLimit } from '../rate-limit';
import { commaList, parseId, parseQuery, single } from '../params';
import { checkWhere, compileWhere, parseWhere, scopeEntities } from '../where';

/** The query parameters of every stream. */
export const streamQuery = z.object({
  entities: commaList(100).optional(),
  keys: commaList(1000).optional(),
  lastEventId: single.optional(),
  access_token: single.optional(),
  format: z.enum(['json', 'html']).default('json'),
});
type StreamQuery = z.infer<typeof streamQuery>;

export interface EventRoutesDeps {
  auth: Auth;
  feed: Feed;
  /** The watched tables: column filters are checked against them. */
  catalog: EntityCatalog;
  metrics: ServiceMetrics;
  rateLimitPerMinute: number;
}

/** The SSE endpoints: routes authenticate and parse; the feed admits and serves. */
export function eventRoutes(deps: EventRoutesDeps): Router {
  const { auth, feed, metrics, catalog } = deps;
  const router = Router();

  router.use(perMinuteLimit(deps.rateLimitPerMinute, () => metrics.rejected.inc({ reason: 'rate_limited' })));

  /** The checked column filters of a stream (a 400 before it starts), if it has any. */
  async function whereOf(conditions: Condition[], scope: Scope, query: StreamQuery): Promise<{ where?: Where }> {
    if (conditions.length === 0) return {};
    checkWhere(conditions, await scopeEntities(catalog, scope, query.entities), scope);
    const where = compileWhere(conditions, scope, catalog);
    return where ? { where } : {};
  }

  /** The request's stream parameters; `Last-Event-ID` (header) wins over `lastEventId`. */
  function streamRequest(req: Request, query: StreamQuery, scope: Scope, claims: Claims | undefined): StreamRequest {
    const header = req.headers['last-event-id'];
    const lastEventId = typeof header === 'string' ? header.trim() : query.lastEventId;
    return {
      scope,
      format: query.format,
      ...(query.entities ? { entities: query.entities } : {}),
      ...(query.keys ? { keys: query.keys } : {}),
      ...(lastEventId === undefined ? {} : { lastEventId }),
      ...(claims ? { subject: claims.sub, expiresAt: claims.exp * 1000 } : {}),
      ...(req.ip === undefined ? {} : { clientIp: req.ip }),
    };
  }

  router.get('/company/:companyId', async (req, res) => {
    const query = parseQuery(req, streamQuery); // a malformed query is a 400 before any token check
    const where = parseWhere(req.query);
    const { scope, claims } = await scopeOf(auth, req, 'company');
    await feed.open(res, { ...streamRequest(req, query, scope, claims), ...(await whereOf(where, scope, query)) });
  });

  router.get('/user', async (req, res) => {
    const query = parseQuery(req, streamQuery);
    const where = parseWhere(req.query);
    const { scope, claims } = await scopeOf(auth, req, 'user');
    await feed.open(res, { ...streamRequest(req, query, scope, claims), ...(await whereOf(where, scope, query)) });
  });

  router.get('/public/:companyId', async (req, res) => {
    const query = parseQuery(req, streamQuery);
    const where = parseWhere(req.query);
    const { scope } = await scopeOf(auth, req, 'public');
    await feed.open(res, { ...streamRequest(req, query, scope, undefined), ...(await whereOf(where, scope, query)) });
  });

  return router;
}

/**
 * The scope a stream or snapshot request asks for, with the claims of its
 * token: company scopes are for role admin or cashier of that company, user
 * scopes for any valid token, public ones for anyone. 401 without a valid
 * token, 403 when it is not allowed.
 */
export async function scopeOf(
  auth: Auth,
  req: Request,
  kind: Scope['kind'],
): Promise<{ scope: Scope; claims: Claims | undefined }> {
  if (kind === 'public') return { scope: { kind, companyId: parseId(req.params.companyId, 'companyId') }, claims: undefined };
  if (kind === 'user') {
    const claims = await auth.fromRequest(req);
    return { scope: { kind, companyId: claims.company, userId: claims.sub }, claims };
  }
  const companyId = parseId(req.params.companyId, 'companyId');
  const claims = await auth.fromRequest(req);
  if (claims.role !== 'admin' && claims.role !== 'cashier') {
    throw new AppError('forbidden', 'company streams are for admins and cashiers');
  }
  if (claims.company !== companyId) throw new AppError('forbidden', 'this token is not for that company');
  return { scope: { kind, companyId }, claims };
}
