import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import type { ServiceMetrics } from '../../metrics';
import type { Feed, StreamRequest } from '../../streams/feed';
import type { EntityCatalog } from '../../events/catalog';
import type { Condition, Scope, Where } from '../../streams/filter';
import type { Auth, Authorize, Claims, StreamScope } from '../auth';
import { streamOpened } from '../access-log';
import { perMinuteLimit } from '../rate-limit';
import { commaList, parseId, parseQuery, single } from '../params';
import { checkWhere, compileWhere, parseWhere } from '../where';

/** The query parameters of every stream. */
export const streamQuery = z.object({
  entities: commaList(100).optional(),
  keys: commaList(1000).optional(),
  lastEventId: single.optional(),
  access_token: single.optional(),
  format: z.enum(['json', 'html']).default('json'),
  /** `compact`: updates carry `key` and `changes` without the whole `row` (JSON only). */
  frame: z.enum(['full', 'compact']).default('full'),
});
type StreamQuery = z.infer<typeof streamQuery>;

export interface EventRoutesDeps {
  auth: Auth;
  /** Who may read which stream, after the tenant check. */
  authorize: Authorize;
  feed: Feed;
  /** The watched tables: column filters are checked against them. */
  catalog: EntityCatalog;
  metrics: ServiceMetrics;
  rateLimitPerMinute: number;
  /** Aborted when the service stops: the rate limiter's store goes with it. */
  stopped: AbortSignal;
}

/** The SSE endpoints: routes authenticate and parse; the feed admits and serves. */
export function eventRoutes(deps: EventRoutesDeps): Router {
  const { feed, metrics, catalog } = deps;
  const router = Router();

  router.use(perMinuteLimit(deps.rateLimitPerMinute, () => metrics.rejected.inc({ reason: 'rate_limited' }), deps.stopped));

  /** The checked column filters of a stream (a 400 before it starts), if it has any. */
  async function whereOf(conditions: Condition[], scope: Scope, query: StreamQuery): Promise<{ where?: Where }> {
    if (conditions.length === 0) return {};
    checkWhere(conditions, await catalog.resolve(scope.kind, query.entities), scope);
    const where = compileWhere(conditions, scope, catalog);
    return where ? { where } : {};
  }

  /** The request's stream parameters; `Last-Event-ID` (header) wins over `lastEventId`. */
  function streamRequest(req: Request, query: StreamQuery, scope: Scope, claims: Claims | undefined): StreamRequest {
    const header = req.headers['last-event-id'];
    const lastEventId = typeof header === 'string' ? header.trim() : query.lastEventId;
    if (query.frame === 'compact' && query.format !== 'json') {
      throw new AppError('invalid_query', 'query parameter frame: compact frames are JSON (format=json)');
    }
    return {
      scope,
      format: query.frame === 'compact' ? 'compact' : query.format,
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
    const { scope, claims } = await scopeOf(deps, req, 'company');
    await feed.open(res, { ...streamRequest(req, query, scope, claims), ...(await whereOf(where, scope, query)) });
    streamOpened(req, res);
  });

  router.get('/user', async (req, res) => {
    const query = parseQuery(req, streamQuery);
    const where = parseWhere(req.query);
    const { scope, claims } = await scopeOf(deps, req, 'user');
    await feed.open(res, { ...streamRequest(req, query, scope, claims), ...(await whereOf(where, scope, query)) });
    streamOpened(req, res);
  });

  router.get('/public/:companyId', async (req, res) => {
    const query = parseQuery(req, streamQuery);
    const where = parseWhere(req.query);
    const { scope } = await scopeOf(deps, req, 'public');
    await feed.open(res, { ...streamRequest(req, query, scope, undefined), ...(await whereOf(where, scope, query)) });
    streamOpened(req, res);
  });

  return router;
}

/**
 * The scope a stream or snapshot request asks for, with the claims of its
 * token: public scopes are for anyone; company and user scopes need a valid
 * token (401) of that company that `authorize` lets read the scope (403).
 */
export async function scopeOf(
  deps: Pick<EventRoutesDeps, 'auth' | 'authorize'>,
  req: Request,
  kind: Scope['kind'],
): Promise<{ scope: Scope; claims: Claims | undefined }> {
  if (kind === 'public') return { scope: { kind, companyId: parseId(req.params.companyId, 'companyId') }, claims: undefined };
  const companyId = kind === 'company' ? parseId(req.params.companyId, 'companyId') : undefined;
  const claims = await deps.auth.fromRequest(req);
  const scope: StreamScope =
    kind === 'company' ? { kind, companyId: companyId! } : { kind, companyId: claims.company, userId: claims.sub };
  // Tenants never cross, whatever the policy: a token reads only its own company's streams.
  if (claims.company !== scope.companyId) throw new AppError('forbidden', 'this token is not for that company');
  if (!(await deps.authorize(claims, scope))) {
    throw new AppError(
      'forbidden',
      `this token may not read ${scope.kind === 'company' ? "this company's stream" : 'its user stream'}`,
    );
  }
  return { scope, claims };
}
