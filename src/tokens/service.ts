// API access tokens: JWTs signed with ES256 (jose) under keys named by a `kid`, the public keys
// published as a JWK Set so other services verify tokens without sharing a secret. Tokens are
// RFC 9068 access tokens (`typ: at+jwt`) with iss, aud, sub, iat, exp, jti and `amr` (RFC 8176).
// Revocation: a token's jti is kept in revoked_tokens until the token's own expiry.
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT, errors, type JWK, type JWTPayload } from 'jose';
import { z } from 'zod';
import type { AuditLog, RequestContext } from '../audit/index.js';
import type { TokenKey } from '../config.js';
import type { TokensRepository } from './repository.js';

const ALGORITHM = 'ES256';
const TOKEN_TYPE = 'at+jwt';
/** Seconds of clock difference tolerated between this server and a token's issuer (itself, another instance). */
const CLOCK_TOLERANCE_SECONDS = 5;

/** Why a presented token was not accepted; the API words them (and always answers invalid_token). */
export type TokenRefusal = 'missing' | 'malformed' | 'invalid' | 'expired' | 'revoked';

export interface AccessClaims extends JWTPayload {
  sub: string;
  jti: string;
  exp: number;
  /** How the subject authenticated (RFC 8176): pwd, sms, tel, otp, ... */
  amr: string[];
  /** For a token of a verified phone number: the number (E.164), also its subject. */
  phone_number?: string;
  /** For an account's token: the account's session generation at sign-in (raising it ends the token). */
  gen?: number;
  /** For an account's token: its sign-in's refresh-token family (revoking the family ends the token). */
  sid?: string;
}

export interface IssuedToken {
  token: string;
  jti: string;
  expiresAt: Date;
  /** Seconds until it expires (OAuth's expires_in). */
  expiresIn: number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** The last second a JavaScript Date can hold: a later `exp` could not be kept as a revocation's end. */
const LAST_DATE_SECONDS = 8.64e12;

/**
 * The claims a token of ours has, in the types we sign them with. A signature only says which
 * key signed; this refuses a token whose claims we would misread (a string `gen` that skips the
 * generation check, an `exp` no Date can hold), whoever got hold of a key.
 */
const claimsShape = z
  .looseObject({
    sub: z.string().min(1).max(255),
    jti: z.string().min(1).max(128),
    iat: z.int().nonnegative(),
    exp: z.int().positive().max(LAST_DATE_SECONDS),
    amr: z.array(z.string().min(1).max(32)).min(1).max(8),
    phone_number: z.string().max(16).optional(),
    gen: z.int().nonnegative().optional(),
    sid: z.uuid().optional(),
  })
  // A token is a verified number's (phone_number) or an account's (gen and sid), never both or neither.
  .refine((claims) => (claims.phone_number === undefined) !== (claims.gen === undefined))
  .refine((claims) => (claims.gen === undefined) === (claims.sid === undefined))
  .refine((claims) => claims.exp > claims.iat);

export function tokenService(deps: {
  keys: TokenKey[];
  issuer: string;
  audience: string;
  repository: TokensRepository;
  audit: AuditLog;
  now?: () => number;
}) {
  const { keys, issuer, audience, repository, audit } = deps;
  const now = deps.now ?? Date.now;
  const [signing] = keys;
  if (!signing) throw new Error('the token service needs a signing key');

  const publicKeys: Promise<JWK[]> = Promise.all(
    keys.map(async ({ kid, privateKey }) => {
      // The public half only: x and y, never d.
      const { kty, crv, x, y } = await exportJWK(privateKey);
      return { kty, crv, x, y, kid, alg: ALGORITHM, use: 'sig' };
    }),
  );
  const keySet = publicKeys.then((jwks) => createLocalJWKSet({ keys: jwks }));

  /** The token's claims when its signature, issuer, audience and type hold; expired tokens too, when asked. */
  async function read(
    token: string,
    options: { evenIfExpired?: boolean } = {},
  ): Promise<{ ok: true; claims: AccessClaims } | { ok: false; reason: TokenRefusal }> {
    if (!token) return { ok: false, reason: 'missing' };
    if (token.length > 4096 || !JWT_SHAPE.test(token)) return { ok: false, reason: 'malformed' };
    try {
      const { payload } = await jwtVerify(token, await keySet, {
        issuer,
        audience,
        algorithms: [ALGORITHM],
        typ: TOKEN_TYPE,
        requiredClaims: ['sub', 'jti', 'exp', 'iat'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(options.evenIfExpired ? 0 : now()),
      });
      const claims = claimsShape.safeParse(payload);
      if (!claims.success) return { ok: false, reason: 'invalid' };
      // Issued in the future: not by a clock we trust.
      if (claims.data.iat > now() / 1000 + CLOCK_TOLERANCE_SECONDS) return { ok: false, reason: 'invalid' };
      return { ok: true, claims: claims.data };
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
      return { ok: false, reason: 'invalid' };
    }
  }

  return {
    /** Signs an access token for `subject`, valid `lifetimeMs`. */
    async issue(input: {
      subject: string;
      amr: string[];
      lifetimeMs: number;
      claims?: Record<string, unknown>;
    }): Promise<IssuedToken> {
      const jti = randomUUID();
      const issuedAt = Math.floor(now() / 1000);
      const expiresIn = Math.floor(input.lifetimeMs / 1000);
      const token = await new SignJWT({ ...input.claims, amr: input.amr })
        .setProtectedHeader({ alg: ALGORITHM, kid: signing.kid, typ: TOKEN_TYPE })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(input.subject)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + expiresIn)
        .setJti(jti)
        .sign(signing.privateKey);
      return { token, jti, expiresAt: new Date((issuedAt + expiresIn) * 1000), expiresIn };
    },

    /**
     * The claims of a token presented as a bearer: signed by one of our keys, in time, not
     * revoked, and (`stillValid`, asked at the same time as the revocation list) whatever else
     * ends it, such as its sign-in ending.
     */
    async verify(
      token: string,
      stillValid: (claims: AccessClaims) => Promise<boolean> = () => Promise.resolve(true),
    ): Promise<{ ok: true; claims: AccessClaims } | { ok: false; reason: TokenRefusal }> {
      const presented = await read(token);
      if (!presented.ok) return presented;
      const [revoked, valid] = await Promise.all([
        repository.isRevoked(presented.claims.jti),
        stillValid(presented.claims),
      ]);
      return revoked || !valid ? { ok: false, reason: 'revoked' } : presented;
    },

    /**
     * Revokes an access token of ours (RFC 7009): says whether it was one. A token that is not
     * ours, or expired already, needs nothing; the caller answers the same either way.
     */
    async revoke(token: string, context: RequestContext): Promise<boolean> {
      const presented = await read(token, { evenIfExpired: true });
      if (!presented.ok) return false;
      const { jti } = presented.claims;
      const expiresAt = new Date(presented.claims.exp * 1000);
      // Audited once: revoking it again changes nothing, and anyone holding the token may repeat it.
      if (expiresAt.getTime() > now() && (await repository.revoke(jti, expiresAt))) {
        // An account's token is in its owner's trail; a verified number's has no account.
        const userId = presented.claims.gen === undefined ? undefined : presented.claims.sub;
        await audit.record({ type: 'token_revoked', outcome: 'ok', userId, context, detail: { kind: 'access', jti } });
      }
      await repository.forgetExpired(new Date(now()));
      return true;
    },

    /** The public keys, as a JWK Set (/.well-known/jwks.json). */
    async jwks(): Promise<{ keys: JWK[] }> {
      return { keys: await publicKeys };
    },
  };
}

export type TokenService = ReturnType<typeof tokenService>;
