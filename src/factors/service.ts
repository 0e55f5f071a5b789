// A person's factors as a whole: which they have (2FA is on while there is one), which they
// used last, and removing them: one (later, with several kinds) or all (turning 2FA off, an
// admin's reset). Each removal goes through the factor's kind, so a vendor's copy goes too.
import type { AuditLog, RequestContext } from '../audit/index.js';
import type { DatabaseClient, InTransaction } from '../core/db/client.js';
import type { Begun, Challenge, FactorKind, FactorRefusal, UserFactor } from './factor.js';
import type { FactorRegistry } from './registry.js';
import type { FactorsRepository } from './repository.js';

/** A signed-in session of the account (src/accounts: SignedInSession). */
type Session = { id: string; sessionGeneration: number; sessionId?: string };

export function factorsService(deps: {
  repository: FactorsRepository;
  registry: FactorRegistry;
  audit: AuditLog;
  inTransaction: InTransaction;
  /**
   * What else goes, in the same transaction, when the person is left with no second factor:
   * the browsers remembered for skipping it (accounts), so turning 2FA on again asks again.
   */
  twoFactorOff: (userId: string, tx: DatabaseClient) => Promise<void>;
  /**
   * Inside `tx`, first: takes the account row and says whether `session` still holds
   * (accounts), so that a "sign out everywhere" made first is not followed by its change.
   */
  sessionHolds: (session: Session, tx: DatabaseClient) => Promise<boolean>;
  now?: () => Date;
}) {
  const { repository, registry, audit, inTransaction, twoFactorOff, sessionHolds } = deps;
  const now = deps.now ?? (() => new Date());

  async function removeAllIn(tx: DatabaseClient, userId: string, context: RequestContext): Promise<number> {
    await repository.lockUser(userId, tx);
    const factors = await repository.listForUser(userId, tx);
    for (const factor of factors)
      await registry.kindOf(factor)?.remove(factor, { userId, purpose: 'enrolment', context }, tx);
    await twoFactorOff(userId, tx);
    return repository.removeAll(userId, tx);
  }

  /**
   * Removes one factor of the person within `tx`. Removing the last second factor turns 2FA off
   * and is recorded so; otherwise 'factor_removed'. Says whether it was there.
   */
  async function removeOneIn(
    tx: DatabaseClient,
    userId: string,
    factorId: string,
    context: RequestContext,
  ): Promise<boolean> {
    await repository.lockUser(userId, tx);
    const factors = await repository.listForUser(userId, tx);
    const factor = factors.find((candidate) => candidate.id === factorId);
    if (!factor) return false;
    await registry.kindOf(factor)?.remove(factor, { userId, purpose: 'enrolment', context }, tx);
    await repository.remove(userId, factor.id, tx);
    // Recovery codes (backup kinds) are not 2FA: the last second factor going turns it off.
    const lastSecond =
      !registry.isBackup(factor) && !factors.some((other) => other.id !== factor.id && !registry.isBackup(other));
    // With 2FA off, its ways back in go too (as when 2FA is turned off as a whole).
    if (lastSecond) {
      for (const backup of factors.filter((other) => registry.isBackup(other))) {
        await registry.kindOf(backup)?.remove(backup, { userId, purpose: 'enrolment', context }, tx);
        await repository.remove(userId, backup.id, tx);
      }
      await twoFactorOff(userId, tx);
    }
    await audit.record(
      {
        type: lastSecond ? 'two_factor_disabled' : 'factor_removed',
        outcome: 'ok',
        userId,
        context,
        detail: { kind: factor.kind },
      },
      tx,
    );
    return true;
  }

  /** The person's factor `factorId` and its kind, when they have it and this version knows the kind. */
  async function ownFactor(
    userId: string,
    factorId: string,
  ): Promise<{ factor: UserFactor; kind: FactorKind } | undefined> {
    const factor = (await repository.listForUser(userId)).find((candidate) => candidate.id === factorId);
    const kind = factor && registry.kindOf(factor);
    return factor && kind ? { factor, kind } : undefined;
  }

  const reauthentication = (userId: string, context: RequestContext) =>
    ({ userId, purpose: 'reauthentication', context }) as const;

  return {
    // ---- Re-authentication: a signed-in person answers one of their factors (before deleting
    // the account), through the kind's own begin and verify, so its sends, cooldowns and
    // wrong-code limits are the sign-in's own. What the step remembers is kept by the caller.

    /** Begins `factorId`'s check (a phone: its code goes out by `via`); `challenge` is what it remembered. */
    async beginCheck(
      userId: string,
      factorId: string,
      challenge: Challenge | undefined,
      via: string | undefined,
      context: RequestContext,
    ): Promise<({ ok: true } & Begun<Challenge, string>) | { ok: false; reason: 'no_such_factor' }> {
      const own = await ownFactor(userId, factorId);
      if (!own) return { ok: false, reason: 'no_such_factor' };
      const begun = await own.kind.begin(own.factor, reauthentication(userId, context), challenge, via ? { via } : {});
      return { ok: true, ...begun };
    },

    /** Checks `answer` to the person's factor `factorId`; wrong answers count toward their limits. */
    async check(
      userId: string,
      factorId: string,
      challenge: Challenge | undefined,
      answer: string,
      context: RequestContext,
    ): Promise<{ ok: true } | { ok: false; reason: 'no_such_factor' } | (FactorRefusal & { kind: string })> {
      const own = await ownFactor(userId, factorId);
      if (!own) return { ok: false, reason: 'no_such_factor' };
      const checked = await own.kind.verify(own.factor, reauthentication(userId, context), challenge, answer);
      return checked.ok ? checked : { ...checked, kind: own.factor.kind };
    },

    /** The person's factors, the one used last first. */
    list: (userId: string): Promise<UserFactor[]> => repository.listForUser(userId),

    /** One factor of the person, or undefined. */
    async find(userId: string, factorId: string): Promise<UserFactor | undefined> {
      return (await repository.listForUser(userId)).find((factor) => factor.id === factorId);
    },

    /** Records that a sign-in was finished with this factor, so it is offered first next time. */
    markUsed: (factor: UserFactor): Promise<void> => repository.markUsed(factor.id, now()),

    /**
     * Turns two-factor authentication off: every factor goes, in one transaction with its audit
     * event; nothing does when `signedIn`'s session ended meanwhile.
     */
    disable(signedIn: Session, context: RequestContext): Promise<{ ok: true } | { ok: false; reason: 'signed_out' }> {
      return inTransaction(async (tx) => {
        if (!(await sessionHolds(signedIn, tx))) return { ok: false, reason: 'signed_out' } as const;
        await removeAllIn(tx, signedIn.id, context);
        await audit.record({ type: 'two_factor_disabled', outcome: 'ok', userId: signedIn.id, context }, tx);
        return { ok: true } as const;
      });
    },

    /**
     * Removes one factor of the person (with the password confirmed by the caller). Removing the
     * last one turns 2FA off and is recorded so; otherwise 'factor_removed'. Says whether it was there.
     */
    removeOne(userId: string, factorId: string, context: RequestContext): Promise<boolean> {
      return inTransaction((tx) => removeOneIn(tx, userId, factorId, context));
    },

    /** removeOne inside the caller's transaction `tx` (the last passkey of a person going). */
    removeOneIn,

    /**
     * Removes every factor of the person inside the caller's transaction `tx` (an admin's reset,
     * audited by the caller as its own action); says how many there were.
     */
    removeAllIn,

    /** Whether these factors of a person make two-factor authentication on: recovery codes alone do not. */
    isTwoFactorOn: (factors: UserFactor[]): boolean => factors.some((factor) => !registry.isBackup(factor)),

    /** How many people have two-factor authentication on: a second factor, not only recovery codes. */
    countUsersWithTwoFactor: () => repository.countUsersWithFactors(registry.backupKinds()),

    /** How many people have a factor of each kind, by kind. */
    countUsersByKind: () => repository.countUsersByKind(),

    /** The factors of each of these people, used last first (phones in E.164, to be shown masked). */
    listForUsers: (userIds: string[]) => repository.listForUsers(userIds),
  };
}

export type FactorsService = ReturnType<typeof factorsService>;
