// Probes for load balancers and orchestrators: /healthz says the process is up; /readyz says
// whether it can serve people, that is whether the database and session store answer.
import { Router } from 'express';
import type { Logger } from '../core/logger.js';

export type ReadinessChecks = Record<string, () => Promise<void>>;

/** `logger` says why a check failed (these probes come before the request log). */
export function healthRouter(checks: ReadinessChecks, logger: Logger): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await check();
          return [name, 'ok'] as const;
        } catch (error) {
          logger.warn({ dependency: name, err: error }, 'readiness check failed');
          return [name, 'unavailable'] as const;
        }
      }),
    );
    const ready = results.every(([, state]) => state === 'ok');
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ready ? 'ready' : 'unavailable', checks: Object.fromEntries(results) });
  });

  return router;
}
