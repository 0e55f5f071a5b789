// The JSON API: a second thin entry point over the same domain as the pages (src/compose.ts),
// mounted at /api by src/web/app.ts before anything of the pages' (sessions, CSRF, forms).
// No cookies are read or set here, so there is no CSRF to defend against; every answer is
// JSON, errors included, and carries the request's ID.
import express, { Router, type RequestHandler } from 'express';
import type { Domain } from '../compose.js';
import { apiErrorHandler, apiNotFound, sendJson } from './errors.js';
import { OPENAPI_DOCUMENT } from './openapi.js';
import { phoneVerificationRouter } from './phone-verification.js';
import { accountTokensRouter } from './account-tokens.js';
import { jwksRouter, tokensRouter } from './tokens.js';

const JSON_BODY_LIMIT = '16kb';

/**
 * CORS, off unless origins are configured: an allowed origin gets the headers a browser needs
 * (bearer tokens, no cookies, so no credentials); any other origin gets none, and its browser
 * refuses to read the answer.
 */
function cors(allowed: string[]): RequestHandler {
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin && allowed.includes(origin)) {
      res.set('Access-Control-Allow-Origin', origin);
      res.set(
        'Access-Control-Expose-Headers',
        'RateLimit-Limit, RateLimit-Remaining, RateLimit-Policy, Retry-After, X-Request-Id, WWW-Authenticate',
      );
      if (req.method === 'OPTIONS') {
        res.set('Access-Control-Allow-Methods', 'GET, POST');
        res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
        res.set('Access-Control-Max-Age', '600');
      }
    }
    res.vary('Origin');
    if (req.method === 'OPTIONS') return void res.status(204).end();
    next();
  };
}

/** The OAuth endpoints, which RFC 6749 clients call with form-encoded bodies. */
const FORM_ENDPOINTS = ['/auth/token', '/auth/revoke'];

/** A body sent as anything but JSON (or, to the OAuth endpoints, a form) is refused before it is read. */
const jsonOnly: RequestHandler = (req, res, next) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  // As Express routes them: any case, with or without a trailing slash.
  const endpoint = req.path.toLowerCase().replace(/\/$/, '');
  const form = FORM_ENDPOINTS.includes(endpoint) && req.is('application/x-www-form-urlencoded');
  if (req.method === 'POST' && hasBody && !req.is('application/json') && !form)
    return sendJson(req, res, 415, { error: 'unsupported_media_type', message: 'Send the body as application/json.' });
  next();
};

export function apiRouter(deps: { domain: Domain; corsOrigins: string[] }): Router {
  const { domain } = deps;
  const router = Router();
  router.use(cors(deps.corsOrigins));
  // Answers are never cached: tokens and per-number states.
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.use(jsonOnly);
  router.use(express.json({ limit: JSON_BODY_LIMIT, strict: true }));
  router.use(FORM_ENDPOINTS, express.urlencoded({ extended: false, limit: JSON_BODY_LIMIT, parameterLimit: 20 }));
  router.get('/openapi.json', (_req, res) => res.json(OPENAPI_DOCUMENT));
  router.use(phoneVerificationRouter({ phoneVerification: domain.phoneVerification }));
  router.use(tokensRouter({ tokens: domain.tokens, grants: domain.grants }));
  router.use(accountTokensRouter({ grants: domain.grants }));
  router.use(apiNotFound);
  router.use(apiErrorHandler);
  return router;
}

export { jwksRouter };
