// Passkeys (WebAuthn) as a factor kind, through @simplewebauthn/server. A person's passkeys are
// one factor row of kind passkey (one way to sign in: "Use a passkey") and a row each in
// passkey_credentials. The browser does the ceremony; this module makes the challenges and
// checks the answers: the challenge (single-use, short-lived, kept in the person's session by the
// caller and taken atomically here so a replay is refused even in parallel), the origin and the
// RP ID from the configuration, the user handle, the signature, and the signature counter (one
// going backwards is refused and audited: a cloned authenticator). Answers that fail count in the
// same wrong-code limit as codes. It also checks a sign-in without a password (signInWithoutPassword):
// the passkey names its account, and must have verified the person (fingerprint, face, PIN).
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { AuditLog } from '../../audit/index.js';
import type { DatabaseClient, InTransaction } from '../../core/db/client.js';
import { randomBytesFromBlock } from '../../core/random.js';
import { RateLimitedError, type Limit } from '../../core/rate-limits.js';
import type { RequestContext } from '../../audit/index.js';
import type { Begun, FactorKind, FactorRefusal, FactorUse, UserFactor } from '../factor.js';
import type { FactorsRepository } from '../repository.js';
import { reserveCheck, type WrongCodeLimit } from '../wrong-code-limit.js';
import {
  CredentialTakenError,
  type ListedPasskey,
  type PasskeyCredential,
  type PasskeysRepository,
} from './repository.js';

/** The transports WebAuthn names (AuthenticatorTransport); anything else a browser sends is dropped. */
const KNOWN_TRANSPORTS: ReadonlySet<string> = new Set([
  'ble',
  'cable',
  'hybrid',
  'internal',
  'nfc',
  'smart-card',
  'usb',
]);

export const PASSKEY_KIND = 'passkey';
/** How long a challenge (and the browser's prompt) lasts. */
export const PASSKEY_CHALLENGE_MS = 5 * 60_000;
/** The most passkeys one person may have. */
export const MAX_PASSKEYS = 20;
export const MAX_PASSKEY_NAME = 64;
/** A WebAuthn answer as the page posts it (JSON); far more than any real one needs. */
export const MAX_PASSKEY_ANSWER = 12_000;
/**
 * 32 random bytes, as SimpleWebAuthn makes them (WebAuthn asks for at least 16), cut from a block
 * drawn at once: a challenge is made on every view of /login.
 */
const newChallenge = () => randomBytesFromBlock(32);

/** A registration under way, kept in the session: its challenge and the options the page hands the browser. */
export interface PasskeyEnrolment {
  startedAt: number;
  challenge: string;
  options: PublicKeyCredentialCreationOptionsJSON;
}

/** A sign-in's challenge, kept in the pending sign-in: used once, for PASSKEY_CHALLENGE_MS. */
export interface PasskeyChallenge {
  issuedAt: number;
  challenge: string;
  options: PublicKeyCredentialRequestOptionsJSON;
}

/** What of a challenge is needed to judge its answer: kept by the caller (a passwordless one, in a signed cookie). */
export type IssuedChallenge = Pick<PasskeyChallenge, 'issuedAt' | 'challenge'>;

/** A passkey that signed someone in without a password: whose, and which factor of theirs it is. */
export interface PasswordlessPass {
  ok: true;
  userId: string;
  factorId: string;
}

export type PasskeyReason =
  /** No answer came (the browser has no JavaScript or no WebAuthn, or the person cancelled). */
  | 'no_answer'
  /** The answer is not a WebAuthn answer. */
  | 'malformed'
  /** No challenge waits, it is past its time, or it was used: a new one is made. */
  | 'expired'
  /** The challenge was answered already (a replay). */
  | 'replayed'
  /** The passkey is not one of the person's. */
  | 'unknown_passkey'
  /** The answer does not hold: signature, origin, RP ID, challenge, user handle or flags. */
  | 'not_verified'
  /** A sign-in without a password, by a passkey that did not verify the person (no fingerprint, face or PIN). */
  | 'user_not_verified'
  /** The signature counter did not grow: the passkey may have been copied. */
  | 'counter_regressed'
  /** This passkey is registered already (here, to some account). */
  | 'already_registered'
  /** The person has MAX_PASSKEYS already. */
  | 'too_many'
  /** The person has no passkey (anymore). */
  | 'no_passkeys'
  /** Too many wrong answers for this person (the limit codes share). */
  | 'locked';

/**
 * Refusals of a sign-in answer that count toward the wrong-code limit: a forged or copied answer
 * is a guess. A replay is not: it cannot succeed, and a double submit by the person's own browser
 * would otherwise use up their attempts.
 */
const COUNTS_AS_WRONG: ReadonlySet<PasskeyReason> = new Set([
  'unknown_passkey',
  'not_verified',
  'user_not_verified',
  'counter_regressed',
]);

/** Refusals of an answer whose signature held: only the passkey's holder can make those. */
const SIGNED_BY_THE_PASSKEY: ReadonlySet<PasskeyReason> = new Set(['user_not_verified', 'counter_regressed']);

/** Whether a refused sign-in answer was a guess (counted in limits), not a browser's mishap (no answer, or late). */
export const isPasskeyGuess = (reason: PasskeyReason): boolean => COUNTS_AS_WRONG.has(reason);

/** The answer a page posted, read as a WebAuthn credential's JSON, or why not. */
function readAnswer<T extends RegistrationResponseJSON | AuthenticationResponseJSON>(
  raw: string,
): { ok: true; answer: T } | { ok: false; reason: 'no_answer' | 'malformed' } {
  if (!raw.trim()) return { ok: false, reason: 'no_answer' };
  try {
    const parsed = JSON.parse(raw) as Partial<T> | null;
    const wellFormed =
      parsed !== null &&
      typeof parsed === 'object' &&
      typeof parsed.id === 'string' &&
      typeof parsed.rawId === 'string' &&
      parsed.type === 'public-key' &&
      typeof parsed.response === 'object' &&
      parsed.response !== null;
    return wellFormed ? { ok: true, answer: parsed as T } : { ok: false, reason: 'malformed' };
  } catch {
    return { ok: false, reason: 'malformed' };
  }
}

/** What of a failed check the audit trail may say: which part did not hold, never the answer. */
function problemOf(error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  for (const part of ['origin', 'challenge', 'RP ID', 'signature', 'User verification', 'User not present'])
    if (message.toLowerCase().includes(part.toLowerCase())) return part.toLowerCase().replace(/ /g, '_');
  return 'other';
}

/** The user handle a passkey carries: the random user id's bytes, which name no one. */
const userHandleOf = (userId: string) => new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));

/** Whether the user handle an answer carries (a discoverable passkey's) is absent, or the person's. */
function handleFits(handle: unknown, userId: string): boolean {
  if (handle === undefined || handle === null || handle === '') return true;
  return typeof handle === 'string' && Buffer.from(handle, 'base64url').equals(Buffer.from(userHandleOf(userId)));
}

type Judged =
  | { ok: true; passkey: PasskeyCredential; userVerified: boolean }
  | { ok: false; reason: PasskeyReason; problem?: string };

export function passkeyFactor(deps: {
  factors: FactorsRepository;
  passkeys: PasskeysRepository;
  inTransaction: InTransaction;
  audit: AuditLog;
  limits: WrongCodeLimit;
  /** Taken once per challenge (one point each): an answer to a challenge taken before is a replay. */
  challengesUsed: Limit;
  rpId: string;
  rpName: string;
  origins: string[];
  /** Whether a stored factor is a way back in (recovery codes), not a second factor: registry.isBackup. */
  isBackup?: (factor: { kind: string }) => boolean;
  /**
   * Removes a whole factor of the person in `tx` (factorsService.removeOneIn): the last passkey
   * going takes the factor with it, and 2FA when it was the last second factor.
   */
  removeFactorIn: (tx: DatabaseClient, userId: string, factorId: string, context: RequestContext) => Promise<boolean>;
  now?: () => number;
}) {
  const { factors, passkeys, inTransaction, audit, limits, challengesUsed, rpId, rpName, origins } = deps;
  const isBackup = deps.isBackup ?? (() => false);
  const now = deps.now ?? Date.now;

  const fresh = (issuedAt: number) => now() - issuedAt <= PASSKEY_CHALLENGE_MS;

  async function factorOf(userId: string, db?: DatabaseClient): Promise<UserFactor | undefined> {
    return (await factors.listForUser(userId, db)).find((factor) => factor.kind === PASSKEY_KIND);
  }

  /** Takes the challenge for good; false when it was taken before (a replay). */
  async function takeChallenge(challenge: string): Promise<boolean> {
    try {
      await challengesUsed.take(challenge);
      return true;
    } catch (error) {
      if (error instanceof RateLimitedError) return false;
      throw error;
    }
  }

  /** The answer read, and its challenge still fresh and now taken for good (answering it again is a replay). */
  async function spend(
    challenge: IssuedChallenge | undefined,
    raw: string,
  ): Promise<
    { ok: true; answer: AuthenticationResponseJSON; challenge: string } | { ok: false; reason: PasskeyReason }
  > {
    const read = readAnswer<AuthenticationResponseJSON>(raw);
    if (!read.ok) return read;
    if (!challenge || !fresh(challenge.issuedAt)) return { ok: false, reason: 'expired' };
    if (!(await takeChallenge(challenge.challenge))) return { ok: false, reason: 'replayed' };
    return { ok: true, answer: read.answer, challenge: challenge.challenge };
  }

  /**
   * Checks an answer by `passkey`, one of `use.userId`'s, to `challenge`: its user handle,
   * signature, origin, RP ID and flags (user verification when `requireUserVerification`), then
   * the counter. The caller accounts for the limit and the audit.
   */
  async function check(
    passkey: PasskeyCredential,
    use: FactorUse,
    challenge: string,
    answer: AuthenticationResponseJSON,
    requireUserVerification: boolean,
  ): Promise<Judged> {
    // Another account's handle: the authenticator holds this credential for someone else.
    if (!handleFits(answer.response.userHandle, use.userId))
      return { ok: false, reason: 'not_verified', problem: 'user_handle' };
    let verified;
    try {
      // The counter is judged below, once the signature holds: a counter going backwards is
      // then a real passkey's (a copy), worth its own audit event, not a forgery's.
      verified = await verifyAuthenticationResponse({
        response: answer,
        expectedChallenge: challenge,
        expectedOrigin: origins,
        expectedRPID: rpId,
        credential: {
          id: passkey.credentialId,
          publicKey: new Uint8Array(passkey.publicKey),
          counter: 0,
          transports: passkey.transports,
        },
        // Judged below, so that its refusal has a reason of its own.
        requireUserVerification: false,
      });
    } catch (error) {
      return { ok: false, reason: 'not_verified', problem: problemOf(error) };
    }
    if (!verified.verified) return { ok: false, reason: 'not_verified' };
    const { userVerified, newCounter: presented } = verified.authenticationInfo;
    if (requireUserVerification && !userVerified) return { ok: false, reason: 'user_not_verified' };
    const stored = Number(passkey.counter);
    const grew = presented > stored || (presented === 0 && stored === 0);
    if (!grew || !(await passkeys.recordUse(passkey.id, presented, new Date(now())))) {
      await audit.record({
        type: 'passkey_counter_regressed',
        outcome: 'refused',
        userId: use.userId,
        context: use.context,
        detail: { purpose: use.purpose, passkey: passkey.id, stored, presented },
      });
      return { ok: false, reason: 'counter_regressed' };
    }
    return { ok: true, passkey, userVerified };
  }

  /** Gives back the limit's place unless the answer was a guess, and audits the answer (`detail` added). */
  async function settle(use: FactorUse, judged: Judged, detail: Record<string, string | boolean> = {}) {
    if (judged.ok || !COUNTS_AS_WRONG.has(judged.reason)) await limits.giveBackCheck(use.userId);
    await audit.record({
      type: 'code_checked',
      // A failed passkey at sign-in is a failed attempt like a wrong code (the account page counts them).
      outcome: judged.ok ? 'ok' : COUNTS_AS_WRONG.has(judged.reason) ? 'wrong_code' : judged.reason,
      userId: use.userId,
      context: use.context,
      detail: {
        purpose: use.purpose,
        kind: PASSKEY_KIND,
        ...detail,
        ...(judged.ok
          ? { passkey: judged.passkey.id, userVerified: judged.userVerified }
          : { reason: judged.reason, ...(judged.problem ? { problem: judged.problem } : {}) }),
      },
    });
  }

  const kind = {
    kind: PASSKEY_KIND,
    signInMethod: 'password_and_passkey',
    /** A challenge answers once: the sign-in forgets it before the answer is checked, and makes a new one after a refusal. */
    singleUseChallenge: true,

    /** Makes the options for the browser to create a passkey with; nothing is stored until its answer holds. */
    async startEnrolment(
      use: FactorUse,
      input: { userName: string },
      _current: PasskeyEnrolment | undefined,
    ): Promise<{ ok: true; enrolment: PasskeyEnrolment } | FactorRefusal<PasskeyReason>> {
      const own = await passkeys.listForUser(use.userId);
      if (own.length >= MAX_PASSKEYS) return { ok: false, reason: 'too_many' };
      const options = await generateRegistrationOptions({
        challenge: newChallenge(),
        rpName,
        rpID: rpId,
        userName: input.userName,
        userID: userHandleOf(use.userId),
        attestationType: 'none',
        // The person's passkeys already here: the browser will not make a second on the same authenticator.
        excludeCredentials: own.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
        timeout: PASSKEY_CHALLENGE_MS,
      });
      return { ok: true, enrolment: { startedAt: now(), challenge: options.challenge, options } };
    },

    /**
     * Checks the browser's answer to the enrolment's challenge (once: a challenge taken before is
     * refused) and stores the passkey under `name`. The person's first second factor turns 2FA
     * on. The caller forgets the enrolment before calling, whatever the outcome.
     */
    async finishEnrolment(
      use: FactorUse,
      enrolment: PasskeyEnrolment & { name: string },
      answer: string,
    ): Promise<{ ok: true; changed: boolean } | FactorRefusal<PasskeyReason>> {
      const read = readAnswer<RegistrationResponseJSON>(answer);
      if (!read.ok) return read;
      if (!fresh(enrolment.startedAt)) return { ok: false, reason: 'expired' };
      if (!(await takeChallenge(enrolment.challenge))) return { ok: false, reason: 'replayed' };
      let verified;
      try {
        verified = await verifyRegistrationResponse({
          response: read.answer,
          expectedChallenge: enrolment.challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          requireUserVerification: false,
        });
      } catch (error) {
        verified = { verified: false as const, problem: problemOf(error) };
      }
      if (!verified.verified) {
        await audit.record({
          type: 'code_checked',
          outcome: 'not_verified',
          userId: use.userId,
          context: use.context,
          detail: {
            purpose: use.purpose,
            kind: PASSKEY_KIND,
            problem: 'problem' in verified ? verified.problem : 'other',
          },
        });
        return { ok: false, reason: 'not_verified' };
      }
      const { credential } = verified.registrationInfo;
      // What the browser says the authenticator is reached by: only the names WebAuthn knows.
      const transports = (Array.isArray(credential.transports) ? credential.transports : []).filter((transport) =>
        KNOWN_TRANSPORTS.has(transport),
      );
      const added = await inTransaction(async (tx): Promise<{ ok: true } | { ok: false; reason: PasskeyReason }> => {
        await factors.lockUser(use.userId, tx);
        if (await passkeys.exists(credential.id, tx)) return { ok: false, reason: 'already_registered' };
        const all = await factors.listForUser(use.userId, tx);
        const secondFactors = all.filter((factor) => !isBackup(factor));
        const factor =
          all.find((one) => one.kind === PASSKEY_KIND) ??
          (await factors.add({ userId: use.userId, kind: PASSKEY_KIND }, tx));
        if ((await passkeys.listForFactor(factor.id, tx)).length >= MAX_PASSKEYS)
          return { ok: false, reason: 'too_many' };
        const passkey = await passkeys.add(
          {
            factorId: factor.id,
            credentialId: credential.id,
            publicKey: new Uint8Array(credential.publicKey),
            counter: credential.counter,
            transports,
            name: enrolment.name,
          },
          tx,
        );
        await audit.record(
          {
            type: secondFactors.length === 0 ? 'two_factor_enabled' : 'factor_added',
            outcome: 'ok',
            userId: use.userId,
            context: use.context,
            detail: { kind: PASSKEY_KIND, passkey: passkey.id, userVerified: verified.registrationInfo.userVerified },
          },
          tx,
        );
        return { ok: true };
      }).catch((error: unknown) => {
        if (error instanceof CredentialTakenError) return { ok: false as const, reason: 'already_registered' as const };
        throw error;
      });
      return added.ok ? { ok: true, changed: false } : added;
    },

    /** A new challenge for the person's passkeys (and the options the page hands the browser). */
    async begin(
      factor: UserFactor,
      _use: FactorUse,
      _challenge: PasskeyChallenge | undefined,
    ): Promise<Begun<PasskeyChallenge, PasskeyReason>> {
      const own = await passkeys.listForFactor(factor.id);
      const options = await generateAuthenticationOptions({
        rpID: rpId,
        challenge: newChallenge(),
        allowCredentials: own.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })),
        userVerification: 'preferred',
        timeout: PASSKEY_CHALLENGE_MS,
      });
      return {
        challenge: { issuedAt: now(), challenge: options.challenge, options },
        outcome: own.length ? { ok: true } : { ok: false, reason: 'no_passkeys' },
      };
    },

    /** Checks the browser's answer to the step's challenge, within the wrong-code limit; audited either way. */
    async verify(
      factor: UserFactor,
      use: FactorUse,
      challenge: PasskeyChallenge | undefined,
      answer: string,
    ): Promise<{ ok: true } | FactorRefusal<PasskeyReason>> {
      const locked = await reserveCheck(limits, audit, use, { kind: PASSKEY_KIND });
      if (locked) return locked;
      const spent = await spend(challenge, answer);
      const passkey = spent.ok
        ? (await passkeys.listForFactor(factor.id)).find((one) => one.credentialId === spent.answer.id)
        : undefined;
      const judged: Judged = !spent.ok
        ? spent
        : passkey
          ? await check(passkey, use, spent.challenge, spent.answer, false)
          : { ok: false, reason: 'unknown_passkey' };
      await settle(use, judged);
      return judged.ok ? { ok: true } : { ok: false, reason: judged.reason };
    },

    // The passkeys go with the row (ON DELETE CASCADE), in the removal's transaction.
    remove: () => Promise.resolve(),
  } satisfies FactorKind<PasskeyChallenge, PasskeyReason, never, PasskeyEnrolment, { userName: string }> & {
    singleUseChallenge: true;
  };

  return {
    ...kind,
    now,

    /**
     * A challenge for a sign-in without a password: any passkey made here may answer (the
     * browser offers the discoverable ones), and it must verify the person.
     */
    async passwordlessChallenge(): Promise<PasskeyChallenge> {
      const options = await generateAuthenticationOptions({
        rpID: rpId,
        challenge: newChallenge(),
        userVerification: 'required',
        timeout: PASSKEY_CHALLENGE_MS,
      });
      return { issuedAt: now(), challenge: options.challenge, options };
    },

    /**
     * Checks an answer to a passwordless `challenge` (kept by the caller, bound to the browser):
     * the challenge is taken for good first; the passkey named (credential IDs are unique) names
     * the account; user verification is required. Only an answer the passkey signed counts in
     * (and is held back by) that account's wrong-code limit: credential IDs are not secrets, and
     * anyone could otherwise lock the owner out with unsigned answers naming theirs (those count
     * per IP, by the caller). Audited either way. The caller grants the sign-in, by the account's rules.
     */
    async signInWithoutPassword(
      challenge: IssuedChallenge | undefined,
      answer: string,
      context: RequestContext,
    ): Promise<PasswordlessPass | FactorRefusal<PasskeyReason>> {
      const spent = await spend(challenge, answer);
      const found = spent.ok ? await passkeys.findByCredentialId(spent.answer.id) : undefined;
      if (!spent.ok || !found) {
        const reason = spent.ok ? 'unknown_passkey' : spent.reason;
        // No account is named: the event has no user.
        await audit.record({
          type: 'code_checked',
          outcome: reason,
          context,
          detail: { purpose: 'sign_in', kind: PASSKEY_KIND, passwordless: true },
        });
        return { ok: false, reason };
      }
      const use: FactorUse = { userId: found.userId, purpose: 'sign_in', context };
      const judged = await check(found, use, spent.challenge, spent.answer, true);
      if (!judged.ok && !SIGNED_BY_THE_PASSKEY.has(judged.reason)) {
        // Not the account's doing: the event names no user, as for an unknown passkey.
        await audit.record({
          type: 'code_checked',
          outcome: judged.reason,
          context,
          detail: {
            purpose: 'sign_in',
            kind: PASSKEY_KIND,
            passwordless: true,
            ...(judged.problem ? { problem: judged.problem } : {}),
          },
        });
        return { ok: false, reason: judged.reason };
      }
      const locked = await reserveCheck(limits, audit, use, { kind: PASSKEY_KIND, passwordless: 'true' });
      if (locked) return locked;
      await settle(use, judged, { passwordless: true });
      return judged.ok
        ? { ok: true, userId: found.userId, factorId: found.factorId }
        : { ok: false, reason: judged.reason };
    },

    /** The person's passkeys as the pages list them, the oldest first. */
    list: (userId: string): Promise<ListedPasskey[]> => passkeys.listedForUser(userId),

    /**
     * Removes one passkey of the person (with the password confirmed by the caller). The last
     * one takes the factor with it (and two-factor authentication, when it was the last second
     * factor). Says whether it was there.
     */
    removePasskey(userId: string, passkeyId: string, context: RequestContext): Promise<boolean> {
      return inTransaction(async (tx) => {
        await factors.lockUser(userId, tx);
        const factor = await factorOf(userId, tx);
        if (!factor) return false;
        const own = await passkeys.listForFactor(factor.id, tx);
        if (!own.some((passkey) => passkey.id === passkeyId)) return false;
        if (own.length === 1) return deps.removeFactorIn(tx, userId, factor.id, context);
        await passkeys.remove(factor.id, passkeyId, tx);
        await audit.record(
          {
            type: 'factor_removed',
            outcome: 'ok',
            userId,
            context,
            detail: { kind: PASSKEY_KIND, passkey: passkeyId },
          },
          tx,
        );
        return true;
      });
    },
  };
}

export type PasskeyFactor = ReturnType<typeof passkeyFactor>;
