// The API's account sign-in, in the shape Auth0's MFA API made familiar: the password grant
// answers tokens, or `mfa_required` with an mfa_token standing for the pending sign-in (the
// same state machine as the pages, src/sign-in); the client lists the person's authenticators,
// asks for a challenge (a code sent) and finishes with an mfa grant. Access tokens carry the
// account's session generation, so "sign out everywhere" and a lock end them too; refresh
// tokens rotate (refresh.ts). Limits, locks, fail-closed behaviour and the audit trail are the
// pages' own, since every step goes through the same services.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditLog, RequestContext } from '../audit/index.js';
import type { FactorRefusal, UserFactor } from '../factors/index.js';
import {
  memoryStore,
  type Account,
  type FactorStep,
  type MfaSessionState,
  type MfaSessionsRepository,
  type SignInService,
} from '../sign-in/index.js';
import type { ApiSignIns, RefreshTokens } from './refresh.js';
import type { AccessClaims, TokenService } from './service.js';

/** A factor as the API lists it (Auth0's authenticator). */
export interface Authenticator {
  id: string;
  authenticator_type: 'otp' | 'oob' | 'recovery-code';
  oob_channel?: 'sms' | 'voice';
  name: string;
  active: true;
}

export interface IssuedTokens {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
}

export type GrantRefusal =
  /** Wrong email or password (the same for an unknown email). */
  | { ok: false; reason: 'invalid_credentials' }
  | { ok: false; reason: 'locked' }
  /** REQUIRE_VERIFIED_EMAIL: the account's address is not confirmed yet (said only after the right password). */
  | { ok: false; reason: 'email_not_verified' }
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number }
  | { ok: false; reason: 'mfa_required'; mfaToken: string }
  /** The mfa_token is unknown, used, expired, or its sign-in ended (a lock, sign out everywhere). */
  | { ok: false; reason: 'invalid_mfa_token' }
  /** No such authenticator of this person, or an oob_code that is not the latest challenge's. */
  | { ok: false; reason: 'invalid_authenticator' }
  | { ok: false; reason: 'invalid_refresh_token' }
  /** The factor's own refusal (a wrong code, a send that failed, ...), in its kind's reasons. */
  | { ok: false; reason: 'factor_refused'; kind: string; refusal: FactorRefusal };

type Challenged = { ok: true; challengeType: 'otp' } | { ok: true; challengeType: 'oob'; oobCode: string };
type Granted = { ok: true; tokens: IssuedTokens };

/** The kinds' names in authenticator ids: "sms|<factor id>", "voice|...", "otp|...", "recovery-code|...". */
const PHONE_WAYS = { sms: 'sms', voice: 'call' } as const;

function authenticatorsOf(factors: UserFactor[], maskPhone: (e164: string) => string): Authenticator[] {
  return factors.flatMap((factor): Authenticator[] => {
    if (factor.kind === 'phone') {
      const name = maskPhone(factor.phoneNumber ?? '');
      return (['sms', 'voice'] as const).map((channel) => ({
        id: `${channel}|${factor.id}`,
        authenticator_type: 'oob',
        oob_channel: channel,
        name,
        active: true,
      }));
    }
    if (factor.kind === 'totp')
      return [{ id: `otp|${factor.id}`, authenticator_type: 'otp', name: 'Authenticator app', active: true }];
    if (factor.kind === 'recovery_codes')
      return [
        { id: `recovery-code|${factor.id}`, authenticator_type: 'recovery-code', name: 'Recovery codes', active: true },
      ];
    return [];
  });
}

/** RFC 8176 amr of a sign-in finished with `factor` (a phone: by the channel its last code went by). */
function amrOf(factor: UserFactor | undefined, state: MfaSessionState | undefined): string[] {
  if (!factor) return ['pwd'];
  if (factor.kind === 'phone') {
    const sent = state?.pending.challenges[factor.id] as { delivery?: { channel?: string } } | undefined;
    return ['pwd', 'mfa', sent?.delivery?.channel === 'call' ? 'tel' : 'sms'];
  }
  return ['pwd', 'mfa', 'otp'];
}

export function tokenGrants(deps: {
  signIn: SignInService;
  mfaSessions: MfaSessionsRepository;
  access: TokenService;
  refresh: RefreshTokens;
  audit: AuditLog;
  accessLifetimeMs: number;
  /** How long an mfa_token lasts: the pages' SECOND_FACTOR_MINUTES. */
  mfaLifetimeMs: number;
  maskPhone: (e164: string) => string;
  /** REQUIRE_VERIFIED_EMAIL: accounts whose address is not confirmed get no tokens. */
  requireVerifiedEmail: boolean;
  now?: () => number;
}) {
  const { signIn, mfaSessions, access, refresh, audit, accessLifetimeMs, mfaLifetimeMs, maskPhone } = deps;
  const { requireVerifiedEmail } = deps;
  const now = deps.now ?? Date.now;

  async function tokensFor(
    account: Pick<Account, 'id' | 'sessionGeneration'>,
    amr: string[],
    context: RequestContext,
    family?: { id: string; nextToken: string },
  ): Promise<IssuedTokens> {
    const familyId = family?.id ?? randomUUID();
    const issued = await access.issue({
      subject: account.id,
      amr,
      lifetimeMs: accessLifetimeMs,
      claims: { gen: account.sessionGeneration, sid: familyId },
    });
    const refreshToken =
      family?.nextToken ??
      (await refresh.issue({ userId: account.id, generation: account.sessionGeneration, amr, familyId }, context));
    await audit.record({
      type: 'token_issued',
      outcome: 'ok',
      userId: account.id,
      context,
      detail: { kind: 'account', amr: amr.join(' '), jti: issued.jti },
    });
    return { accessToken: issued.token, expiresIn: issued.expiresIn, refreshToken };
  }

  /**
   * Runs one step of the sign-in an mfa_token stands for: the state is taken for the step and
   * put back unless the step granted or ended the sign-in (or failed on the way: then the
   * client starts again at the password, and nobody is let in). While a step runs, the token
   * stands for nothing: a parallel request with it is refused.
   */
  async function withSession<T extends { ok: boolean }>(
    mfaToken: string,
    step: (
      store: ReturnType<typeof memoryStore>,
      state: MfaSessionState,
    ) => Promise<{ result: T | GrantRefusal; oobCodes?: Record<string, string> }>,
  ): Promise<T | GrantRefusal> {
    const taken = await mfaSessions.take(mfaToken, new Date(now()));
    if (!taken) return { ok: false, reason: 'invalid_mfa_token' };
    const store = memoryStore(taken.state.pending);
    const { result, oobCodes } = await step(store, taken.state);
    const pending = store.read();
    // The sign-in service clears the state when it grants or ends the sign-in: otherwise it goes on.
    if (pending && !store.cleared())
      await mfaSessions.put(mfaToken, { pending, oobCodes: oobCodes ?? taken.state.oobCodes }, taken.expiresAt);
    return result;
  }

  /** A finished factor step: tokens when it granted the sign-in, the refusal otherwise. */
  async function finished(
    step: FactorStep | { ok: false; ended: 'no_such_factor' },
    state: MfaSessionState,
    factor: UserFactor | undefined,
    context: RequestContext,
  ): Promise<{ result: Granted | GrantRefusal }> {
    if (step.ok) {
      await signIn.recordSignIn(step.signedIn, step.method, context, { through: 'api' });
      return { result: { ok: true, tokens: await tokensFor(step.signedIn, amrOf(factor, state), context) } };
    }
    if (step.ended === 'locked') return { result: { ok: false, reason: 'locked' } };
    if (step.ended) return { result: { ok: false, reason: 'invalid_mfa_token' } };
    return { result: { ok: false, reason: 'factor_refused', kind: factor?.kind ?? '', refusal: step } };
  }

  /** The person's factor named by an authenticator id ("otp|<id>"), and the way its id names. */
  function factorNamed(account: Account, authenticatorId: string) {
    const [way, id] = authenticatorId.split('|');
    const factor = account.factors.find((candidate) => candidate.id === id);
    if (!factor || !way) return undefined;
    const expected = factor.kind === 'phone' ? ['sms', 'voice'] : factor.kind === 'totp' ? ['otp'] : ['recovery-code'];
    return expected.includes(way) ? { factor, way } : undefined;
  }

  return {
    /** grant_type=password. */
    async password(
      input: { email: string; password: string },
      context: RequestContext,
    ): Promise<{ ok: true; tokens: IssuedTokens } | GrantRefusal> {
      const store = memoryStore(undefined);
      const step = await signIn.password(store, { ...input, remember: false, next: '/' }, context, { begin: false });
      if (!step.ok) {
        if (step.reason === 'wrong_credentials') return { ok: false, reason: 'invalid_credentials' };
        if (step.reason === 'rate_limited')
          return { ok: false, reason: 'rate_limited', retryAfterSeconds: step.retryAfterSeconds };
        return { ok: false, reason: 'locked' };
      }
      if (requireVerifiedEmail && !('signedIn' in step ? step.signedIn : step.account).emailVerified)
        return { ok: false, reason: 'email_not_verified' };
      if ('signedIn' in step) {
        await signIn.recordSignIn(step.signedIn, step.method, context, { through: 'api' });
        return { ok: true, tokens: await tokensFor(step.signedIn, ['pwd'], context) };
      }
      await mfaSessions.forgetExpired(new Date(now()));
      const mfaToken = await mfaSessions.create(
        { pending: step.pending, oobCodes: {} },
        new Date(now() + mfaLifetimeMs),
      );
      return { ok: false, reason: 'mfa_required', mfaToken };
    },

    /** The person's authenticators, for an mfa_token (nothing is changed). */
    async authenticators(
      mfaToken: string,
      context: RequestContext,
    ): Promise<{ ok: true; authenticators: Authenticator[] } | GrantRefusal> {
      const state = await mfaSessions.read(mfaToken, new Date(now()));
      if (!state) return { ok: false, reason: 'invalid_mfa_token' };
      const resumed = await signIn.resume(memoryStore(state.pending), context);
      if (!resumed.ok) return { ok: false, reason: 'invalid_mfa_token' };
      return { ok: true, authenticators: authenticatorsOf(resumed.step.account.factors, maskPhone) };
    },

    /** POST /mfa/challenge: an oob authenticator gets a code (its oob_code names it); otp needs nothing sent. */
    challenge(mfaToken: string, authenticatorId: string, context: RequestContext): Promise<Challenged | GrantRefusal> {
      const ended = (end: string): { result: GrantRefusal } => ({
        result: { ok: false, reason: end === 'locked' ? 'locked' : 'invalid_mfa_token' },
      });
      return withSession<Challenged>(mfaToken, async (store) => {
        const resumed = await signIn.resume(store, context);
        if (!resumed.ok) return ended(resumed.ended);
        const named = factorNamed(resumed.step.account, authenticatorId);
        if (!named || named.factor.kind === 'recovery_codes')
          return { result: { ok: false, reason: 'invalid_authenticator' } };
        const { factor, way } = named;
        const via = way in PHONE_WAYS ? PHONE_WAYS[way as keyof typeof PHONE_WAYS] : undefined;
        // The factor in use begins again (a resend); another one is chosen, and begins.
        // The first code of this sign-in goes out whatever cooldown another sign-in started, as
        // the pages' first code does; later ones wait for it.
        const begun =
          factor.id === resumed.step.pending.factorId
            ? await signIn.again(store, context, via ?? 'sms', { first: true })
            : await signIn.choose(store, context, factor.id, via, { first: true });
        if (!begun.ok) return ended(begun.ended);
        if (!begun.begun.ok)
          return { result: { ok: false, reason: 'factor_refused', kind: factor.kind, refusal: begun.begun } };
        if (factor.kind !== 'phone') return { result: { ok: true, challengeType: 'otp' } };
        const oobCode = randomBytes(18).toString('base64url');
        // Only the latest challenge's code is good: a new one replaces the others.
        return { result: { ok: true, challengeType: 'oob', oobCode }, oobCodes: { [oobCode]: factor.id } };
      });
    },

    /** grant_type=mfa-otp: the authenticator app's code. */
    mfaOtp(mfaToken: string, otp: string, context: RequestContext): Promise<Granted | GrantRefusal> {
      return withSession<Granted>(mfaToken, async (store, state) => {
        const resumed = await signIn.resume(store, context);
        if (!resumed.ok) return finished(resumed, state, undefined, context);
        const app = resumed.step.account.factors.find((factor) => factor.kind === 'totp');
        if (!app) return { result: { ok: false, reason: 'invalid_authenticator' } };
        if (app.id !== resumed.step.pending.factorId) {
          const chosen = await signIn.choose(store, context, app.id);
          if (!chosen.ok)
            return finished(
              { ok: false, ended: chosen.ended === 'no_such_factor' ? 'ended' : chosen.ended },
              state,
              app,
              context,
            );
        }
        return finished(await signIn.verify(store, context, otp, {}, resumed.step), state, app, context);
      });
    },

    /** grant_type=mfa-oob: the code sent for the challenge `oobCode` names. */
    mfaOob(
      mfaToken: string,
      oobCode: string,
      bindingCode: string,
      context: RequestContext,
    ): Promise<Granted | GrantRefusal> {
      return withSession<Granted>(mfaToken, async (store, state) => {
        const factorId = Object.hasOwn(state.oobCodes, oobCode) ? state.oobCodes[oobCode] : undefined;
        // Only the challenge in use: the code of a way left behind no longer signs in.
        if (!factorId || factorId !== state.pending.factorId)
          return { result: { ok: false, reason: 'invalid_authenticator' } };
        const resumed = await signIn.resume(store, context);
        if (!resumed.ok) return finished(resumed, state, undefined, context);
        return finished(
          await signIn.verify(store, context, bindingCode, {}, resumed.step),
          state,
          resumed.step.factor,
          context,
        );
      });
    },

    /** grant_type=mfa-recovery-code. */
    mfaRecoveryCode(mfaToken: string, code: string, context: RequestContext): Promise<Granted | GrantRefusal> {
      return withSession<Granted>(mfaToken, async (store, state) => {
        const resumed = await signIn.resume(store, context);
        if (!resumed.ok) return finished(resumed, state, undefined, context);
        const set = resumed.step.account.factors.find((factor) => factor.kind === 'recovery_codes');
        if (!set) return { result: { ok: false, reason: 'invalid_authenticator' } };
        return finished(await signIn.verifyBackup(store, context, set.id, code, {}, resumed.step), state, set, context);
      });
    },

    /** grant_type=refresh_token: the family's next token and a new access token, or why not. */
    async refreshToken(
      token: string,
      context: RequestContext,
    ): Promise<{ ok: true; tokens: IssuedTokens } | GrantRefusal> {
      const rotated = await refresh.rotate(token, context);
      if (!rotated.ok) {
        if (rotated.reason === 'reused' && rotated.grant)
          await audit.record({
            type: 'token_revoked',
            outcome: 'reuse_detected',
            userId: rotated.grant.userId,
            context,
            detail: { kind: 'refresh', family: rotated.grant.familyId },
          });
        return { ok: false, reason: 'invalid_refresh_token' };
      }
      const { grant, next } = rotated;
      // Signed out everywhere, locked or deleted since: the family ends here.
      const account = await signIn.signedInAccount(grant.userId, grant.generation, null);
      if (!account) {
        await refresh.revokeFamily(grant.familyId);
        return { ok: false, reason: 'invalid_refresh_token' };
      }
      return {
        ok: true,
        tokens: await tokensFor(account, grant.amr, context, { id: grant.familyId, nextToken: next }),
      };
    },

    /**
     * Whether an access token's sign-in still holds: for an account's token, no "sign out
     * everywhere" or lock since, and its refresh-token family not revoked (a verified number's
     * token has no sign-in to end).
     */
    async stillSignedIn(claims: AccessClaims): Promise<boolean> {
      if (claims.gen === undefined) return true;
      const [holds, familyRevoked] = await Promise.all([
        signIn.signInHolds(claims.sub, claims.gen),
        claims.sid === undefined ? false : refresh.familyRevoked(claims.sid),
      ]);
      return holds && !familyRevoked;
    },

    /** The person's API sign-ins that still hold, at most `limit`, and how many, for "Your sessions". */
    apiSignIns: (userId: string, limit: number): Promise<ApiSignIns> => refresh.signIns(userId, limit),

    /**
     * Signs out one API sign-in of the person from "Your sessions": its family is revoked, so its
     * refresh token and the access tokens issued with it stop working. Another person's (or one
     * already ended) is `not_found`, and nothing changes.
     */
    async signOutApiSignIn(
      userId: string,
      familyId: string,
      context: RequestContext,
    ): Promise<{ ok: true } | { ok: false; reason: 'not_found' }> {
      if (!(await refresh.revokeFamilyOf(userId, familyId))) return { ok: false, reason: 'not_found' };
      await audit.record({
        type: 'token_revoked',
        outcome: 'ok',
        userId,
        context,
        detail: { kind: 'refresh', family: familyId, remote: true },
      });
      return { ok: true };
    },

    /** Revokes a refresh token's family, its sign-in (RFC 7009); false when it is not one of ours. */
    async revokeRefreshToken(token: string, context: RequestContext): Promise<boolean> {
      const grant = await refresh.revoke(token);
      if (!grant) return false;
      await audit.record({
        type: 'token_revoked',
        outcome: 'ok',
        userId: grant.userId,
        context,
        detail: { kind: 'refresh', family: grant.familyId },
      });
      return true;
    },
  };
}

export type TokenGrants = ReturnType<typeof tokenGrants>;
