import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import type { ServiceMetrics } from '../../metrics';
import type { Feed, StreamRequest } from '../../streams/feed';
import type { Scope } from '../../streams/filter';
import type { Auth, Authorize, Claims, StreamScope } from '../auth';
import { perMinuteLimit } from '../rate-limit';
import { commaList, parseId, parseQuery, single } from '../params';

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
  metrics: ServiceMetrics;
  rateLimitPerMinute: number;
}

/** The SSE endpoints: routes authenticate and parse; the feed admits and serves. */
export function eventRoutes(deps: EventRoutesDeps): Router {
  const { auth, feed, metrics } = deps;
  const router = Router();

  router.use(perMinuteLimit(deps.rateLimitPerMinute, () => metrics.rejected.inc({ reason: 'rate_limited' })));

  /** 403 unless the token is of the stream's company and `authorize` lets it read the stream. */
  async function mayRead(claims: Claims, scope: StreamScope): Promise<void> {
    // Tenants never cross, whatever the policy: a token reads only its own company's streams.
    if (claims.company !== scope.companyId) throw new AppError('forbidden', 'this token is not for that company');
    if (!(await deps.authorize(claims, scope))) {
      throw new AppError(
        'forbidden',
        `this token may not read ${scope.kind === 'company' ? "this company's stream" : 'its user stream'}`,
      );
    }
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
    const companyId = parseId(req.params.companyId, 'companyId');
    const query = parseQuery(req, streamQuery); // a malformed query is a 400 before any token check
    const claims = await auth.fromRequest(req);
    const scope: StreamScope = { kind: 'company', companyId };
    await mayRead(claims, scope);
    await feed.open(res, streamRequest(req, query, scope, claims));
  });

  router.get('/user', async (req, res) => {
    const query = parseQuery(req, streamQuery);
    const claims = await auth.fromRequest(req);
    const scope: StreamScope = { kind: 'user', companyId: claims.company, userId: claims.sub };
    await mayRead(claims, scope);
    await feed.open(res, streamRequest(req, query, scope, claims));
  });

  router.get('/public/:companyId', async (req, res) => {
    const companyId = parseId(req.params.companyId, 'companyId');
    const query = parseQuery(req, streamQuery);
    await feed.open(res, streamRequest(req, query, { kind: 'public', companyId }, undefined));
  });

  return router;
}
