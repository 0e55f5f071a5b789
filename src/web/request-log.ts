// One log line per request, when its answer is sent (or the connection goes first), and the
// request's ID. What pino-http did here, without its per-request child logger: pino serialises a
// child's bindings when it is made, so every request paid for a logger that only error paths use
// (bench/findings.md). The line and its fields are pino-http's, so log readers see no change.
import { randomUUID } from 'node:crypto';
import type { Express, Request, RequestHandler } from 'express';
import type { Logger } from '../core/logger.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The caller's X-Request-Id when it is a plain token, else a new UUID; sent back as X-Request-Id. */
      id: string;
      /** A logger whose lines name the request (`req`: its ID, method, path and client). */
      log: Logger;
    }
  }
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Links mailed to people carry a token in their path; logs name the link, never the token. */
const LINK_TOKEN = /^(\/(?:reset-password|verify-email|confirm-email)\/)[^/]+/i;
const withoutLinkTokens = (path: string) => path.replace(LINK_TOKEN, '$1…');

/**
 * What a line says of its request: method, path and client only; no headers (cookies, tokens)
 * and no query string (a `next` or a search can carry an email address or anything else a
 * person typed).
 */
interface RequestFields {
  id: string;
  method: string;
  url: string;
  ip: string | undefined;
}

/** Its path with no query string (`originalUrl`: as it came in, whatever a router rewrote since). */
const describe = (req: Request): RequestFields => ({
  id: req.id,
  method: req.method,
  url: withoutLinkTokens(req.originalUrl.split('?')[0]!),
  ip: req.ip ?? req.socket.remoteAddress,
});

/**
 * Gives every request an ID and `req.log`, and logs one line per request: info, or error for a
 * 5xx or a failed answer (with the error the error handler left in `res.err`). `req.log` is made
 * the first time something asks for it.
 */
export function useRequestLog(app: Express, logger: Logger): void {
  Object.defineProperty(app.request, 'log', {
    configurable: true,
    get(this: Request): Logger {
      const log = logger.child({ req: describe(this) });
      Object.defineProperty(this, 'log', { value: log, configurable: true });
      return log;
    },
  });

  // A line of an answer given holds the fields above and nothing else, none of them a path the
  // logger redacts: it is written unredacted, which was about 1 % of the CPU of /login. Error
  // lines carry an error, which may hold anything: those are redacted as every other line.
  const answered = logger.child({}, { redact: [] });

  const log: RequestHandler = (req, res, next) => {
    const start = Date.now();
    const incoming = req.headers['x-request-id'];
    req.id = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    // Its client read now, while its socket is open.
    const fields = describe(req);
    let logged = false;
    const done = (error?: Error) => {
      if (logged) return;
      logged = true;
      const responseTime = Date.now() - start;
      const level = error || res.statusCode >= 500 ? 'error' : 'info';
      const failure = error ?? (res as { err?: unknown }).err;
      if (failure || res.statusCode >= 500) {
        const err = failure ?? new Error(`failed with status code ${res.statusCode}`);
        logger[level]({ req: fields, res: { statusCode: res.statusCode }, err, responseTime }, 'request errored');
      } else {
        const message = !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted';
        answered[level]({ req: fields, res: { statusCode: res.statusCode }, responseTime }, message);
      }
    };
    res.on('finish', done);
    res.on('close', done);
    res.on('error', done);
    next();
  };
  app.use(log);
}
