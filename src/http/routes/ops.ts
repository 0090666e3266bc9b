import { Router } from 'express';
import { formatPosition } from '../../events/position';
import type { Listener } from '../../listener/listener';
import type { ServiceMetrics } from '../../metrics';

/** /healthz, /readyz, /metrics, and the API's descriptions /openapi.json and /asyncapi.json. */
export function opsRoutes(deps: {
  listener: Listener;
  metrics: ServiceMetrics;
  documents: { openapi: Record<string, unknown>; asyncapi: Record<string, unknown> };
}): Router {
  const { listener, metrics, documents } = deps;
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    res
      .status(listener.ready ? 200 : 503)
      .json({ ready: listener.ready, listener: listener.state, position: formatPosition(listener.position) });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  router.get('/openapi.json', (_req, res) => {
    res.json(documents.openapi);
  });
  router.get('/asyncapi.json', (_req, res) => {
    res.json(documents.asyncapi);
  });
  return router;
}
