import { Router } from 'express';
import type { Capture } from '../../capture';
import { formatPosition } from '../../events/position';
import { readiness } from '../../health';
import type { Listener } from '../../listener/listener';
import type { Skips } from '../../events/skips';
import type { ServiceMetrics } from '../../metrics';

/** /healthz: the process is alive. */
export function healthRoute(): Router {
  return Router().get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
}

/** /healthz, /readyz and /metrics. */
export function opsRoutes(deps: { listener: Listener; metrics: ServiceMetrics; capture?: Capture; skips?: Skips }): Router {
  const { listener, metrics, capture, skips } = deps;
  const router = Router();
  router.use(healthRoute());
  router.get('/readyz', (_req, res) => {
    const { ready, reason } = readiness(listener, capture);
    res.status(ready ? 200 : 503).json({
      ready,
      ...(reason === undefined ? {} : { reason }),
      listener: listener.state,
      position: formatPosition(listener.position),
      capture: capture?.status(),
      // Changes that did not reach the streams (docs/schema-changes.md): not a reason to be unready, but visible.
      skipped: skips?.summary() ?? [],
    });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return router;
}

/** The API's descriptions: /openapi.json (the JSON API) and /asyncapi.json (the streams). */
export function descriptionRoutes(documents: { openapi: Record<string, unknown>; asyncapi: Record<string, unknown> }): Router {
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(documents.openapi);
  });
  router.get('/asyncapi.json', (_req, res) => {
    res.json(documents.asyncapi);
  });
  return router;
}
