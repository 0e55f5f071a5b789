// Access tokens over HTTP: the protected route the tutorials call, revocation (RFC 7009) and
// the public keys (JWK Set) other services verify our tokens with.
import { Router } from 'express';
import { contextOf } from '../audit/index.js';
import type { TokenGrants, TokenService } from '../tokens/index.js';
import { claimsOf, requireBearer } from './bearer.js';
import { sendJson } from './errors.js';
import { readBody, revokeBody } from './forms.js';

export const JWKS_PATH = '/.well-known/jwks.json';

export function tokensRouter(deps: { tokens: TokenService; grants: TokenGrants }): Router {
  const { tokens, grants } = deps;
  const router = Router();

  router.get(
    '/auth/protected',
    requireBearer(tokens, (claims) => grants.stillSignedIn(claims)),
    (req, res) => {
      const claims = claimsOf(req, res);
      sendJson(req, res, 200, {
        message: 'This is a protected route',
        ...(claims.phone_number ? { phone_number: claims.phone_number } : {}),
        sub: claims.sub,
      });
    },
  );

  // RFC 7009: the same answer whether or not the token was ours, valid or revoked already.
  router.post('/auth/revoke', async (req, res) => {
    const body = readBody(revokeBody, req.body);
    if (!body.ok)
      return sendJson(req, res, 400, {
        error: 'invalid_request',
        error_description: body.message,
        message: body.message,
      });
    // An access token, else a refresh token (and the rest of its family).
    if (!(await tokens.revoke(body.data.token, contextOf(req))))
      await grants.revokeRefreshToken(body.data.token, contextOf(req));
    sendJson(req, res, 200, {});
  });

  return router;
}

/** GET /.well-known/jwks.json: the public keys, cacheable for a few minutes (keys rotate slowly). */
export function jwksRouter(deps: { tokens: TokenService }): Router {
  const router = Router();
  router.get(JWKS_PATH, async (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300');
    res.json(await deps.tokens.jwks());
  });
  return router;
}
