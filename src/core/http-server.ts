// The HTTP server the app runs on, in production and in tests alike. Its time limits are
// shorter than Node's defaults (a minute for headers, five for a request), so a client that
// trickles its headers or its body (slowloris) holds a connection for seconds, not minutes.
import http, { type Server } from 'node:http';
import type { Express } from 'express';

/** Real browsers send their headers at once; a form body here is at most a few kilobytes. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** How often Node looks for requests over those limits (its default is every 30 seconds). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export interface Listening {
  port: number;
  host: string;
  /** How long an idle keep-alive connection stays open; above any load balancer's own. */
  keepAliveMs: number;
}

export function listen(app: Express, { port, host, keepAliveMs }: Listening): Promise<Server> {
  const server = http.createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: keepAliveMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    app,
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
