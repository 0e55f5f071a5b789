// Authenticator apps (TOTP) as a factor kind. Nothing is sent at sign-in: the person types the
// code their app shows. Which back end keeps and checks the secret of a new app (local RFC 6238,
// or Twilio Verify) is chosen by configuration; an app stays on the back end it was set up on,
// so changing the setting locks no one out. This module stores what the back end returns,
// counts wrong codes in the same limit as phone codes, and makes a code good once even when two
// requests bring it at the same moment.
import type { AuditLog } from '../../audit/index.js';
import type { InTransaction } from '../../core/db/client.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { Begun, FactorKind, FactorRefusal, FactorUse, UserFactor } from '../factor.js';
import type { CodeLimits } from '../phone/code-limits.js';
import type { FactorsRepository } from '../repository.js';
import { reserveCheck } from '../wrong-code-limit.js';
import type { TotpBackend, TotpReason, TotpStored } from './backends/backend.js';

export const TOTP_KIND = 'totp';

/** An enrolment under way, kept in the session: the back end's pending state and, sealed, what the setup page shows. */
export interface TotpEnrolment {
  startedAt: number;
  backend: TotpBackend['name'];
  pending: Record<string, string>;
  /** The otpauth URI and the key, sealed: the page shows them again after a wrong code. */
  display: string;
}

/** Nothing to remember between requests at sign-in. */
export type TotpChallenge = Record<string, never>;

export type TotpCheckReason =
  | TotpReason
  /** Nothing typed. */
  | 'missing_code'
  /** Not 6 digits: never checked. */
  | 'malformed'
  /** Too many wrong codes for this person (the limit phone codes share). */
  | 'locked'
  /** The enrolment was made under another back end or cannot be read: start again. */
  | 'expired'
  /** The person has an app already (set up by a request that finished first): nothing was changed. */
  | 'already_set_up';

const CODE_PATTERN = /^\d{6}$/;
const DISPLAY_PURPOSE = 'totp-enrolment-display';

/** Wrong guesses count toward the wrong-code limit; a replayed code is a guess that was seen. */
const COUNTS_AS_WRONG: ReadonlySet<TotpCheckReason> = new Set(['wrong_code', 'replayed']);

function readCode(raw: string): { ok: true; code: string } | { ok: false; reason: 'missing_code' | 'malformed' } {
  const code = raw.normalize('NFKC').replace(/[\s\-–—.]/g, '');
  if (!code) return { ok: false, reason: 'missing_code' };
  return CODE_PATTERN.test(code) ? { ok: true, code } : { ok: false, reason: 'malformed' };
}

/** What the back end keeps in a factor's row. */
export function storedOf(factor: UserFactor): TotpStored {
  return {
    secretBox: factor.totpSecret,
    lastStep: factor.totpLastStep,
    twilioEntity: factor.twilioEntity,
    twilioFactorSid: factor.twilioFactorSid,
    lastCode: factor.totpLastCode,
  };
}

/** The back end a stored app was set up on: its row says, by what it keeps. */
export function backendNameOf(factor: UserFactor): TotpBackend['name'] {
  return factor.twilioFactorSid ? 'twilio' : 'local';
}

/** The back ends a stored app may be on; Twilio's only when Twilio is configured. */
export interface TotpBackends {
  local: TotpBackend;
  twilio?: TotpBackend;
}

export function totpFactor(deps: {
  /** Where apps set up from now on are kept (TOTP_PROVIDER). */
  backend: TotpBackend;
  /** Where apps set up before may be: an app stays on the back end it was set up on. */
  backends: TotpBackends;
  repository: FactorsRepository;
  inTransaction: InTransaction;
  audit: AuditLog;
  limits: CodeLimits;
  box: SecretBox;
  /** Whether a stored factor is a way back in (recovery codes), not a second factor: registry.isBackup. */
  isBackup?: (factor: { kind: string }) => boolean;
  now?: () => number;
}) {
  const { backend, backends, repository, inTransaction, audit, limits, box } = deps;
  const isBackup = deps.isBackup ?? (() => false);
  const now = deps.now ?? Date.now;

  /** The back end of a stored app; undefined when it is Twilio's and Twilio is no longer configured. */
  const backendOf = (factor: UserFactor): TotpBackend | undefined => backends[backendNameOf(factor)];

  /**
   * Checks a typed code within the wrong-code limit; `judge` asks the back end. Wrong and
   * replayed codes count; anything the back end did not judge is given back.
   */
  async function check<T>(
    use: FactorUse,
    backendName: TotpBackend['name'],
    raw: string,
    judge: (code: string) => Promise<{ ok: true; value: T } | { ok: false; reason: TotpCheckReason }>,
  ): Promise<{ ok: true; value: T } | FactorRefusal<TotpCheckReason>> {
    const typed = readCode(raw);
    const locked = await reserveCheck(limits, audit, use, { kind: TOTP_KIND });
    if (locked) return locked;
    const judged = typed.ok ? await judge(typed.code) : typed;
    if (judged.ok || !COUNTS_AS_WRONG.has(judged.reason)) await limits.giveBackCheck(use.userId);
    await audit.record({
      type: 'code_checked',
      outcome: judged.ok ? 'ok' : judged.reason === 'missing_code' ? 'malformed' : judged.reason,
      userId: use.userId,
      context: use.context,
      detail: { purpose: use.purpose, kind: TOTP_KIND, backend: backendName },
    });
    return judged.ok ? judged : { ok: false, reason: judged.reason };
  }

  const kind = {
    kind: TOTP_KIND,
    signInMethod: 'password_and_totp',

    /** Makes a new secret (or asks the back end for one): nothing is stored until its first code is right. */
    async startEnrolment(
      use: FactorUse,
      input: { accountName: string },
      _current: TotpEnrolment | undefined,
    ): Promise<{ ok: true; enrolment: TotpEnrolment } | FactorRefusal<TotpCheckReason>> {
      const started = await backend.start({ userId: use.userId, accountName: input.accountName });
      if (!started.ok) return started;
      const { uri, secret, pending } = started.start;
      return {
        ok: true,
        enrolment: {
          startedAt: now(),
          backend: backend.name,
          pending,
          display: box.seal(JSON.stringify({ uri, secret }), DISPLAY_PURPOSE),
        },
      };
    },

    /**
     * Checks the enrolment's first code and, when it is right, stores the app. A person has one
     * app: when another request set one up first (a double submit, a setup left open in another
     * tab), nothing is changed and the app this enrolment made at the back end is let go. The
     * first factor turns 2FA on.
     */
    async finishEnrolment(
      use: FactorUse,
      enrolment: TotpEnrolment,
      answer: string,
    ): Promise<{ ok: true; changed: boolean } | FactorRefusal<TotpCheckReason>> {
      if (enrolment.backend !== backend.name) return { ok: false, reason: 'expired' };
      const checked = await check(use, backend.name, answer, async (code) => {
        const finished = await backend.finish(enrolment.pending, code);
        return finished.ok ? { ok: true, value: finished.stored } : finished;
      });
      if (!checked.ok) return checked;
      const stored = checked.value;
      const added = await inTransaction(async (tx) => {
        await repository.lockUser(use.userId, tx);
        const factors = await repository.listForUser(use.userId, tx);
        const existing = factors.find((factor) => factor.kind === TOTP_KIND);
        if (existing) return { existing };
        // Recovery codes alone are not 2FA: the first second factor turns it on.
        const secondFactors = factors.filter((factor) => !isBackup(factor));
        await repository.add(
          {
            userId: use.userId,
            kind: TOTP_KIND,
            totpSecret: stored.secretBox ?? null,
            totpLastStep: stored.lastStep ?? null,
            twilioEntity: stored.twilioEntity ?? null,
            twilioFactorSid: stored.twilioFactorSid ?? null,
            totpLastCode: stored.lastCode ?? null,
          },
          tx,
        );
        await audit.record(
          {
            type: secondFactors.length === 0 ? 'two_factor_enabled' : 'factor_added',
            outcome: 'ok',
            userId: use.userId,
            context: use.context,
            detail: { kind: TOTP_KIND, backend: backend.name },
          },
          tx,
        );
        return { existing: undefined };
      });
      if (added.existing) {
        // A factor of its own at the back end (not the one stored by the request that won) goes.
        if (stored.twilioFactorSid !== added.existing.twilioFactorSid) await backend.remove(stored);
        return { ok: false, reason: 'already_set_up' };
      }
      return { ok: true, changed: false };
    },

    /** Nothing to send: the app shows the code. */
    begin(): Promise<Begun<TotpChallenge, TotpCheckReason>> {
      return Promise.resolve({ challenge: {}, outcome: { ok: true } });
    },

    async verify(
      factor: UserFactor,
      use: FactorUse,
      _challenge: TotpChallenge | undefined,
      answer: string,
    ): Promise<{ ok: true } | FactorRefusal<TotpCheckReason>> {
      const keeper = backendOf(factor);
      const checked = await check(use, backendNameOf(factor), answer, async (code) => {
        // An app set up on Twilio while Twilio is no longer configured: nobody gets in with it.
        if (!keeper) return { ok: false, reason: 'unavailable' };
        const before = storedOf(factor);
        const verified = await keeper.verify(before, code);
        if (!verified.ok) return verified;
        const from = { step: before.lastStep ?? null, code: before.lastCode ?? null };
        const step = verified.stored.lastStep ?? null;
        const mark = verified.stored.lastCode ?? null;
        // The mark moves only if no other request moved it first: the loser's code was used.
        if (step !== null && (step !== from.step || mark !== from.code)) {
          const advanced = await repository.advanceTotpStep(factor.id, from, { step, code: mark });
          if (!advanced) return { ok: false, reason: 'replayed' };
        }
        if (verified.stored.secretBox && verified.stored.secretBox !== before.secretBox)
          await repository.update(factor.id, { totpSecret: verified.stored.secretBox });
        return { ok: true, value: undefined };
      });
      return checked.ok ? { ok: true } : checked;
    },

    /**
     * Whatever the back end keeps beside the row (Twilio's factor) goes too. Without Twilio
     * configured it stays there: harmless, since only this server makes its challenges.
     */
    remove: async (factor: UserFactor) => {
      await backendOf(factor)?.remove(storedOf(factor));
    },
  } satisfies FactorKind<TotpChallenge, TotpCheckReason, never, TotpEnrolment, { accountName: string }>;

  return {
    ...kind,
    now,
    backendName: backend.name,

    /** What the setup page shows for an enrolment: the otpauth URI (for the QR code) and the key. */
    display(enrolment: TotpEnrolment): { uri: string; secret: string } | undefined {
      const opened = box.open(enrolment.display, DISPLAY_PURPOSE);
      if (opened === undefined) return undefined;
      try {
        const parsed = JSON.parse(opened) as { uri?: unknown; secret?: unknown };
        return typeof parsed.uri === 'string' && typeof parsed.secret === 'string'
          ? { uri: parsed.uri, secret: parsed.secret }
          : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export type TotpFactor = ReturnType<typeof totpFactor>;
