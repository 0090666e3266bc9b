import { Router } from 'express';
import type { Listener } from '../../listener/listener';
import type { ServiceMetrics } from '../../metrics';

/** /healthz, /readyz and /metrics (section 7). */
export function opsRoutes(deps: { listener: Listener; metrics: ServiceMetrics }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    const { listener } = deps;
    res
      .status(listener.ready ? 200 : 503)
      .json({ ready: listener.ready, listener: listener.state, cursor: listener.cursor.toString() });
  });
  router.get('/metrics', (_req, res) => {
    res.type('text/plain; version=0.0.4').send(deps.metrics.registry.render());
  });
  return router;
}
