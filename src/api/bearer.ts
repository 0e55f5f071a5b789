// Bearer tokens (RFC 6750) on API routes: the token's claims on res.locals, or a 401 with
// WWW-Authenticate naming invalid_token.
import type { Request, RequestHandler, Response } from 'express';
import type { AccessClaims, TokenService } from '../tokens/index.js';
import { sendJson } from './errors.js';
import { TOKEN_REFUSED } from './messages.js';

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/i;

/** The token of an Authorization: Bearer header: '' when there is none, undefined when it is malformed. */
export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  return header === undefined ? '' : BEARER.exec(header)?.[1];
}

/**
 * `stillSignedIn` says whether an account token's sign-in holds (no "sign out everywhere" or
 * lock since): such a token is refused as revoked otherwise.
 */
export function requireBearer(
  tokens: Pick<TokenService, 'verify'>,
  stillSignedIn: (claims: AccessClaims) => Promise<boolean>,
): RequestHandler {
  return async (req, res, next) => {
    const token = bearerToken(req);
    const verified =
      token === undefined ? ({ ok: false, reason: 'malformed' } as const) : await tokens.verify(token, stillSignedIn);
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
