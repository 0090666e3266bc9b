import { Router, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import type { Config } from '../../config';
import { AppError } from '../../errors';
import type { Feed } from '../../streams/feed';
import { type Filter, PUBLIC_ENTITIES, type Scope } from '../../streams/filter';
import { sseRetry } from '../../streams/sse';
import { Subscriber } from '../../streams/subscriber';
import type { ServiceMetrics } from '../../metrics';
import type { Auth, Claims } from '../auth';
import { commaList, parseId, parseQuery, single } from '../params';
import type { EntityCatalog } from '../entities';

const streamQuery = z.object({
  entities: commaList(100).optional(),
  keys: commaList(1000).optional(),
  lastEventId: single.optional(),
  access_token: single.optional(),
  format: z.enum(['json', 'html']).default('json'),
});

export interface EventRoutesDeps {
  config: Config;
  auth: Auth;
  feed: Feed;
  entities: EntityCatalog;
  metrics: ServiceMetrics;
}

/** The SSE endpoints of section 4. */
export function eventRoutes(deps: EventRoutesDeps): Router {
  const { config, auth, feed, entities, metrics } = deps;
  const router = Router();

  router.use(
    rateLimit({
      windowMs: 60_000,
      limit: config.RATE_LIMIT_PER_MINUTE,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      handler: (req, res, next) => {
        metrics.rejected(1, { reason: 'rate_limited' });
        const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
        const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
        res.setHeader('Retry-After', String(seconds));
        next(new AppError('rate_limited', 'too many stream connection attempts; retry later'));
      },
    }),
  );

  router.get('/company/:companyId', async (req, res) => {
    const companyId = parseId(req.params.companyId, 'companyId');
    const query = parseQuery(req, streamQuery);
    const claims = await auth.fromRequest(req);
    if (claims.role !== 'admin' && claims.role !== 'cashier') {
      throw new AppError('forbidden', 'company streams are for admins and cashiers');
    }
    if (claims.company !== companyId) throw new AppError('forbidden', 'this token is not for that company');
    await open(req, res, query, { kind: 'company', companyId }, claims);
  });

  router.get('/user', async (req, res) => {
    const query = parseQuery(req, streamQuery);
    const claims = await auth.fromRequest(req);
    await open(req, res, query, { kind: 'user', companyId: claims.company, userId: claims.sub }, claims);
  });

  router.get('/public/:companyId', async (req, res) => {
    const companyId = parseId(req.params.companyId, 'companyId');
    const query = parseQuery(req, streamQuery);
    await open(req, res, query, { kind: 'public', companyId }, undefined);
  });

  async function open(
    req: Request,
    res: Response,
    query: z.infer<typeof streamQuery>,
    scope: Scope,
    claims: Claims | undefined,
  ): Promise<void> {
    const filter: Filter = { scope };
    if (query.entities) {
      const unknown = await entities.unknownOf(query.entities);
      if (unknown.length > 0) throw new AppError('invalid_query', `unknown entity: ${unknown.join(', ')}`);
      if (scope.kind === 'public') {
        const hidden = query.entities.filter((e) => !PUBLIC_ENTITIES.has(e));
        if (hidden.length > 0) {
          throw new AppError('invalid_query', `public streams carry only trip and stock, not ${hidden.join(', ')}`);
        }
      }
      filter.entities = new Set(query.entities);
    }
    if (query.keys) filter.keys = new Set(query.keys);

    const header = req.headers['last-event-id'];
    const lastEventId = typeof header === 'string' ? header.trim() : query.lastEventId;

    if (feed.registry.size >= config.MAX_CONNECTIONS) {
      metrics.rejected(1, { reason: 'max_connections' });
      res.setHeader('Retry-After', '5');
      throw new AppError('too_many_connections', 'the server has reached MAX_CONNECTIONS streams');
    }
    if (claims && feed.registry.countFor(claims.sub) >= config.MAX_CONNECTIONS_PER_USER) {
      metrics.rejected(1, { reason: 'max_connections_per_user' });
      res.setHeader('Retry-After', '5');
      throw new AppError('too_many_connections', 'this user has reached MAX_CONNECTIONS_PER_USER streams');
    }

    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const subscriber = new Subscriber(res, {
      filter,
      format: query.format,
      ...(claims ? { sub: claims.sub } : {}),
      maxBufferedBytes: config.SLOW_CLIENT_MAX_BYTES,
      maxPending: 100_000,
      onSent: feed.onSent,
      onSlow: () => metrics.slowDisconnects(),
    });
    subscriber.write(sseRetry(config.RETRY_MS));
    let expiry: NodeJS.Timeout | undefined;
    // The stream ends when the token does; the client must come back with a fresh one.
    // Timers cap at 2^31-1 ms (~24.8 days), so a far expiry is re-armed.
    const armExpiry = (expMs: number) => {
      const wait = expMs - Date.now();
      if (wait <= 0) return subscriber.end();
      expiry = setTimeout(() => armExpiry(expMs), Math.min(wait, 2 ** 31 - 1));
    };
    if (claims) armExpiry(claims.exp * 1000);
    res.once('close', () => {
      clearTimeout(expiry);
      feed.registry.remove(subscriber);
    });
    try {
      await feed.open(subscriber, lastEventId);
    } catch (error) {
      feed.registry.remove(subscriber);
      res.destroy();
      throw error;
    }
  }

  return router;
}
