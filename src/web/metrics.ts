// GET /metrics for Prometheus: open in development and tests; with METRICS_TOKEN set, only for
// `Authorization: Bearer <token>`; in production off (404) unless that token is set.
import { timingSafeEqual, createHash } from 'node:crypto';
import { Router } from 'express';
import type { Metrics } from '../core/metrics.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function metricsRouter(deps: { metrics: Metrics; token: string | undefined; open: boolean }): Router {
  const router = Router();
  if (!deps.token && !deps.open) return router;
  const expected = deps.token ? digest(deps.token) : undefined;
  router.get('/metrics', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    // The scheme in any case (RFC 7235); the token compared as digests: same length, constant time.
    const sent = /^bearer +(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (expected && !timingSafeEqual(digest(sent), expected)) {
      res.set('WWW-Authenticate', 'Bearer realm="metrics"');
      return void res.status(401).type('text/plain').send('A bearer token is required.\n');
    }
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
