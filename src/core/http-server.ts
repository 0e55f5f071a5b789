// The HTTP server the app runs on, in production and in tests alike. Its time limits are
// shorter than Node's defaults (a minute for headers, five for a request), so a client that
// trickles its headers or its body (slowloris) holds a connection for seconds, not minutes.
import http, { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
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

/**
 * A request Node could not parse never reaches the app: it gets Node's status (431 for headers
 * over Node's 16 kB, 408 for one too slow, 400 otherwise) with a sentence, where Node's own
 * answer has no body at all.
 */
function answerUnreadable(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const [status, sentence] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'The request headers are too large (16 kB at most).']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'The request took too long to arrive.']
        : [400, 'The request could not be read.'];
  const body = `${sentence}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
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
  server.on('clientError', answerUnreadable);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
