// Recovery codes: ten single-use codes, a way back in for a person who lost their phone (or,
// later, their authenticator app). A set is one factor row of kind recovery_codes; its codes
// are rows of recovery_codes, stored hashed (codes.ts says why SHA-256 is enough).
//
// It is a FactorKind like the others, so sign-in, turning 2FA off and an admin's reset treat
// it like any factor; but it is a `backup`: it never begins by default, is used from its own
// page, and alone does not mean two-factor authentication is on. Sets are made, not enrolled:
// when the person's first second factor is turned on, and again on request (voiding the old).
import type { AuditLog } from '../../audit/index.js';
import type { InTransaction } from '../../core/db/client.js';
import type { Begun, FactorKind, FactorRefusal, FactorUse, UserFactor } from '../factor.js';
import type { FactorsRepository } from '../repository.js';
import { reserveCheck, type WrongCodeLimit } from '../wrong-code-limit.js';
import {
  CODES_PER_SET,
  hashRecoveryCode,
  newCodes,
  readRecoveryCode,
  RECOVERY_CODES_KIND,
  type RecoveryCodeProblem,
} from './codes.js';
import type { RecoveryCodesRepository } from './repository.js';

export type RecoveryCodeReason =
  | RecoveryCodeProblem
  /** No unused code of the set has this value. */
  | 'wrong_code'
  /** The code was one of the set's, and is used already. */
  | 'used_code'
  /** The wrong-code lock (shared with every code factor) holds. */
  | 'locked'
  /** Sets are made with `make`, not enrolled. */
  | 'not_enrolled';

/** Why no set was made. */
export type MakeRefusal =
  /** The person has a set already and did not ask for a new one. */
  | 'exists'
  /** The person has no second factor: recovery codes alone are not two-factor authentication. */
  | 'no_second_factor';

export function recoveryCodesFactor(deps: {
  factors: FactorsRepository;
  codes: RecoveryCodesRepository;
  inTransaction: InTransaction;
  audit: AuditLog;
  limits: WrongCodeLimit;
  now?: () => Date;
}) {
  const { factors, codes, inTransaction, audit, limits } = deps;
  const now = deps.now ?? (() => new Date());

  const notEnrolled = (): Promise<FactorRefusal<RecoveryCodeReason>> =>
    Promise.resolve({ ok: false, reason: 'not_enrolled' });

  async function setOf(userId: string): Promise<UserFactor | undefined> {
    return (await factors.listForUser(userId)).find((factor) => factor.kind === RECOVERY_CODES_KIND);
  }

  const kind = {
    kind: RECOVERY_CODES_KIND,
    signInMethod: 'password_and_recovery_code',
    backup: true,

    startEnrolment: notEnrolled,
    finishEnrolment: notEnrolled,

    // Nothing to send or to show before the person types a code.
    begin: (): Promise<Begun<object, RecoveryCodeReason>> => Promise.resolve({ challenge: {}, outcome: { ok: true } }),

    /**
     * Uses the typed code, once. Checks count in the person's wrong-code limit like phone
     * codes: a wrong code (or one used already) keeps its place, a right one gives it back.
     */
    async verify(
      factor: UserFactor,
      use: FactorUse,
      _challenge: object | undefined,
      answer: string,
    ): Promise<{ ok: true } | FactorRefusal<RecoveryCodeReason>> {
      const { userId, context } = use;
      const locked = await reserveCheck(limits, audit, use, { method: 'recovery_code' });
      if (locked) return locked;
      const typed = readRecoveryCode(answer);
      if (!typed.ok) {
        await limits.giveBackCheck(userId);
        return typed;
      }
      const codeHash = hashRecoveryCode(factor.id, typed.code);
      const used = await inTransaction(async (tx) => {
        if (!(await codes.use(factor.id, codeHash, now(), tx))) return false;
        const { left } = await codes.counts(factor.id, tx);
        await audit.record({ type: 'recovery_code_used', outcome: 'ok', userId, context, detail: { left } }, tx);
        return true;
      });
      if (used) {
        await limits.giveBackCheck(userId);
        return { ok: true };
      }
      const spent = await codes.has(factor.id, codeHash);
      await audit.record({
        type: 'code_checked',
        outcome: 'wrong_code',
        userId,
        context,
        detail: { purpose: use.purpose, method: 'recovery_code', alreadyUsed: spent },
      });
      return { ok: false, reason: spent ? 'used_code' : 'wrong_code' };
    },

    // The codes go with the row (ON DELETE CASCADE), in the removal's transaction.
    remove: () => Promise.resolve(),
  } satisfies FactorKind<object, RecoveryCodeReason, never, object, unknown>;

  return {
    ...kind,

    /**
     * Makes a new set for the person and gives its codes, in clear, to be shown once: nothing
     * keeps them in clear. With `replace`, an existing set is voided (its row and codes go);
     * without, a person who has a set keeps it and gets none (`exists`). Refused while the
     * person has no second factor. Serialised with every other change to the person's factors.
     */
    async make(
      use: FactorUse,
      { replace }: { replace: boolean },
    ): Promise<{ ok: true; codes: string[] } | { ok: false; reason: MakeRefusal }> {
      const { userId, context } = use;
      return inTransaction(async (tx) => {
        await factors.lockUser(userId, tx);
        const all = await factors.listForUser(userId, tx);
        const existing = all.filter((factor) => factor.kind === RECOVERY_CODES_KIND);
        if (!all.some((factor) => factor.kind !== RECOVERY_CODES_KIND))
          return { ok: false as const, reason: 'no_second_factor' as const };
        if (existing.length && !replace) return { ok: false as const, reason: 'exists' as const };
        for (const old of existing) await factors.remove(userId, old.id, tx);
        const set = await factors.add({ userId, kind: RECOVERY_CODES_KIND }, tx);
        const made = newCodes();
        // Hashed as they will be typed back: read as readRecoveryCode reads them.
        const hashes = made.map((code) => {
          const read = readRecoveryCode(code);
          if (!read.ok) throw new Error('a new recovery code does not read back');
          return hashRecoveryCode(set.id, read.code);
        });
        await codes.addAll(set.id, hashes, tx);
        await audit.record(
          {
            type: 'recovery_codes_made',
            outcome: 'ok',
            userId,
            context,
            detail: { replaced: existing.length > 0, count: made.length },
          },
          tx,
        );
        return { ok: true as const, codes: made };
      });
    },

    /**
     * How many recovery codes are left, of how many, in the set among `factors` (the person's, as
     * the request read them: not read again); undefined without a set.
     */
    async remaining(factors: UserFactor[]): Promise<{ left: number; total: number } | undefined> {
      const set = factors.find((factor) => factor.kind === RECOVERY_CODES_KIND);
      return set ? codes.counts(set.id) : undefined;
    },

    /** The person's set, if they have one. */
    setOf,

    codesPerSet: CODES_PER_SET,
  };
}

export type RecoveryCodesFactor = ReturnType<typeof recoveryCodesFactor>;
