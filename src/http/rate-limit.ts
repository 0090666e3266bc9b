import type { Request, RequestHandler } from 'express';
import { MemoryStore, rateLimit } from 'express-rate-limit';
import { AppError } from '../errors';

/**
 * At most `perMinute` requests per client address per minute; past it a 429
 * `rate_limited` with Retry-After. `onLimited` counts refusals. When `stopped`
 * aborts (the service's stop), the counts and their cleanup timer go.
 */
export function perMinuteLimit(perMinute: number, onLimited: () => void = () => {}, stopped?: AbortSignal): RequestHandler {
  // Our own store, to shut it down: express-rate-limit's MemoryStore keeps an
  // interval (and every address's count) until shutdown() is called, so each
  // stopped service would leave one per limiter behind in the process.
  const store = new MemoryStore();
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    store,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // Its checks print to the console, outside the JSON log; TRUST_PROXY (README) is where a proxy is configured.
    validate: { xForwardedForHeader: false, trustProxy: false },
    handler: (req, res, next) => {
      onLimited();
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
      res.setHeader('Retry-After', String(seconds));
      next(new AppError('rate_limited', 'too many requests; retry later'));
    },
  });
  if (stopped?.aborted) store.shutdown();
  else stopped?.addEventListener('abort', () => store.shutdown(), { once: true });
  return limiter;
}
