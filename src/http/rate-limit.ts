import type { Request, RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { AppError } from '../errors';

/**
 * At most `perMinute` requests per client address per minute; past it a 429
 * `rate_limited` with Retry-After. `onLimited` counts refusals.
 */
export function perMinuteLimit(perMinute: number, onLimited: () => void = () => {}): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
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
}
