// Account sign-in for API clients (OAuth 2.0 token endpoint, Auth0's MFA API): the password
// grant, mfa_required with an mfa_token, the person's authenticators, a challenge, the mfa
// grants and refresh_token. Errors in RFC 6749's shape. The rules live in src/tokens/grants.ts.
import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import { contextOf } from '../audit/index.js';
import type { GrantRefusal, IssuedTokens, TokenGrants } from '../tokens/index.js';
import { bearerToken } from './bearer.js';
import { sendJson, setLimitHeaders } from './errors.js';
import { challengeBody, grantBodies, readBody, tokenRequest } from './forms.js';
import { grantRefused, TOKEN_REFUSED } from './messages.js';

/** Auth0's grant type URIs, read as the short names the issue's clients send. */
const AUTH0_GRANT = 'http://auth0.com/oauth/grant-type/';

export function accountTokensRouter(deps: { grants: TokenGrants }): Router {
  const { grants } = deps;
  const router = Router();

  const oauthError = (req: Request, res: Response, status: number, error: string, description: string, extra = {}) =>
    sendJson(req, res, status, { error, error_description: description, ...extra });

  function answer(req: Request, res: Response, result: { ok: true; tokens: IssuedTokens } | GrantRefusal) {
    if (result.ok)
      return sendJson(req, res, 200, {
        access_token: result.tokens.accessToken,
        token_type: 'Bearer',
        expires_in: result.tokens.expiresIn,
        refresh_token: result.tokens.refreshToken,
      });
    refuse(req, res, result);
  }

  function refuse(req: Request, res: Response, refusal: GrantRefusal) {
    const worded = grantRefused(refusal);
    const retryAfter =
      refusal.reason === 'rate_limited'
        ? refusal.retryAfterSeconds
        : refusal.reason === 'factor_refused'
          ? refusal.refusal.retryAfterSeconds
          : undefined;
    setLimitHeaders(res, undefined, retryAfter);
    oauthError(
      req,
      res,
      worded.status,
      worded.error,
      worded.description,
      refusal.reason === 'mfa_required' ? { mfa_token: refusal.mfaToken } : {},
    );
  }

  router.post('/auth/token', async (req, res) => {
    const request = readBody(tokenRequest, req.body);
    if (!request.ok) return oauthError(req, res, 400, 'invalid_request', request.message);
    const grant = request.data.grant_type.replace(AUTH0_GRANT, '');
    const context = contextOf(req);
    if (!Object.hasOwn(grantBodies, grant))
      return oauthError(req, res, 400, 'unsupported_grant_type', `grant_type ${grant} is not supported.`);
    const schema = grantBodies[grant as keyof typeof grantBodies] as z.ZodType<Record<string, string>>;
    const body = readBody(schema, req.body);
    if (!body.ok) return oauthError(req, res, 400, 'invalid_request', body.message);
    const fields = body.data;
    switch (grant) {
      case 'password':
        return answer(req, res, await grants.password({ email: fields.email!, password: fields.password! }, context));
      case 'mfa-otp':
        return answer(req, res, await grants.mfaOtp(fields.mfa_token!, fields.otp!, context));
      case 'mfa-oob':
        return answer(
          req,
          res,
          await grants.mfaOob(fields.mfa_token!, fields.oob_code!, fields.binding_code!, context),
        );
      case 'mfa-recovery-code':
        return answer(req, res, await grants.mfaRecoveryCode(fields.mfa_token!, fields.recovery_code!, context));
      default:
        return answer(req, res, await grants.refreshToken(fields.refresh_token!, context));
    }
  });

  router.get('/auth/mfa/authenticators', async (req, res) => {
    const mfaToken = bearerToken(req);
    const listed = mfaToken ? await grants.authenticators(mfaToken, contextOf(req)) : undefined;
    if (!listed?.ok) {
      const description = mfaToken
        ? 'The mfa_token is invalid, expired or was used: sign in again.'
        : TOKEN_REFUSED.missing;
      res.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${description}"`);
      return oauthError(req, res, 401, 'invalid_token', description);
    }
    res.json(listed.authenticators);
  });

  router.post('/auth/mfa/challenge', async (req, res) => {
    const body = readBody(challengeBody, req.body);
    if (!body.ok) return oauthError(req, res, 400, 'invalid_request', body.message);
    const challenged = await grants.challenge(body.data.mfa_token, body.data.authenticator_id, contextOf(req));
    if (!challenged.ok) return refuse(req, res, challenged);
    if (challenged.challengeType === 'otp') return sendJson(req, res, 200, { challenge_type: 'otp' });
    sendJson(req, res, 200, { challenge_type: 'oob', oob_code: challenged.oobCode, binding_method: 'prompt' });
  });

  return router;
}
