// Probes for load balancers and orchestrators: /healthz says the process is up; /readyz says
// whether it can serve people, that is whether the database and session store answer.
import { Router } from 'express';

export type ReadinessChecks = Record<string, () => Promise<void>>;

export function healthRouter(checks: ReadinessChecks): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });

  router.get('/readyz', async (req, res) => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await check();
          return [name, 'ok'] as const;
        } catch (error) {
          req.log?.warn({ dependency: name, err: error }, 'readiness check failed');
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
