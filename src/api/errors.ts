// JSON errors for everything under /api: never an HTML page, always the request's ID, and the
// right status. Bodies carry `message` (what the phone-verification scripts read) and, for the
// OAuth endpoints, RFC 6749's `error` and `error_description`.
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { isDependencyFailure, RateLimitedError } from '../core/errors.js';
import type { RequestLimit } from '../phone-verification/index.js';

/** The request's ID (src/web/request-log.ts; also sent as X-Request-Id). */
export function requestIdOf(req: Request): string {
  const id = (req as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : '';
}

/** Seconds a client should wait after a 429 or a 503 that names no wait of its own (Twilio's throttling, an outage). */
const DEFAULT_RETRY_SECONDS = 60;

/** Answers `body` with `status`, adding the request's ID (and to a 429 or a 503, when to come back). */
export function sendJson(req: Request, res: Response, status: number, body: Record<string, unknown>): void {
  if ((status === 429 || status === 503) && !res.get('Retry-After'))
    res.set('Retry-After', String(DEFAULT_RETRY_SECONDS));
  res.status(status).json(status >= 400 ? { ...body, request_id: requestIdOf(req) } : body);
}

/** The rate-limit headers (IETF httpapi draft) and, when refused, Retry-After. */
export function setLimitHeaders(res: Response, limits: RequestLimit | undefined, retryAfterSeconds?: number): void {
  if (limits) {
    res.set('RateLimit-Limit', String(limits.limit));
    res.set('RateLimit-Remaining', String(limits.remaining));
    res.set('RateLimit-Policy', `${limits.limit};w=60`);
  }
  if (retryAfterSeconds) res.set('Retry-After', String(retryAfterSeconds));
}

export const apiNotFound: RequestHandler = (req, res) => {
  sendJson(req, res, 404, { error: 'not_found', message: 'There is no such API endpoint.' });
};

/** Body parsing, limits, dependency failures and anything unexpected, as JSON. */
export const apiErrorHandler: ErrorRequestHandler = (error, req, res, _next) => {
  const type = (error as { type?: unknown }).type;
  const answer = (status: number, code: string, message: string) => {
    if (status >= 500) (res as { err?: unknown }).err = error;
    if (res.headersSent) return void res.destroy();
    sendJson(req, res, status, { error: code, message });
  };
  if (type === 'entity.parse.failed') {
    // Strict parsing takes objects and arrays only: a bare string or number is JSON, but not a body.
    const raw = (error as { body?: unknown }).body;
    if (typeof raw === 'string' && /^\s*[^\s{[]/.test(raw))
      return answer(400, 'invalid_request', 'The body must be a JSON object.');
    return answer(400, 'invalid_json', 'The body is not valid JSON (RFC 8259: double quotes, no trailing commas).');
  }
  if (type === 'entity.too.large') return answer(413, 'too_large', 'The body is too large (16 kB at most).');
  if (type === 'charset.unsupported' || type === 'encoding.unsupported')
    return answer(415, 'unsupported_media_type', 'Send the body as UTF-8 JSON.');
  if (type === 'parameters.too.many') return answer(413, 'too_large', 'The form has too many fields.');
  if (typeof type === 'string' && (type.startsWith('entity.') || type.startsWith('request.')))
    return answer(400, 'invalid_request', 'The body could not be read.');
  // Any other refusal of the body parser (it carries the body: never a 500, so never logged).
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500)
    return answer(status, 'invalid_request', 'The request could not be read.');
  if (error instanceof RateLimitedError) {
    res.set('Retry-After', String(error.retryAfterSeconds));
    return answer(429, 'too_many_requests', `Too many requests. Try again in ${error.retryAfterSeconds} seconds.`);
  }
  if (isDependencyFailure(error))
    return answer(503, 'temporarily_unavailable', 'The service is having trouble right now. Try again in a minute.');
  return answer(500, 'server_error', 'An unexpected error stopped this request.');
};
