// Bearer tokens (RFC 6750) on API routes: the token's claims on res.locals, or a 401 with
// WWW-Authenticate naming invalid_token.
import type { Request, RequestHandler, Response } from 'express';
import type { AccessClaims, TokenService } from '../tokens/index.js';
import { sendJson } from './errors.js';
import { TOKEN_REFUSED } from './messages.js';

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/i;

export function requireBearer(tokens: Pick<TokenService, 'verify'>): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization;
    const token = header === undefined ? '' : (BEARER.exec(header)?.[1] ?? 'malformed');
    const verified = token === 'malformed' ? ({ ok: false, reason: 'malformed' } as const) : await tokens.verify(token);
    if (!verified.ok) {
      const description = TOKEN_REFUSED[verified.reason];
      res.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${description}"`);
      return sendJson(req, res, 401, { error: 'invalid_token', error_description: description, message: description });
    }
    res.locals.claims = verified.claims;
    next();
  };
}

/** The claims requireBearer accepted. */
export function claimsOf(_req: Request, res: Response): AccessClaims {
  return res.locals.claims as AccessClaims;
}
