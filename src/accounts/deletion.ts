// Deleting one's own account (behind a recent password confirmation, checked by the pages, and
// for a person with two-factor authentication, a current answer to one of their factors). The
// account goes with everything that hangs on it (factors, a vendor's copy of an app included,
// sessions, API refresh tokens, pending API sign-ins); the audit trail keeps its events under a
// pseudonym. The last active admin cannot delete their account: that is decided under the lock
// admin changes take turns under, so two last admins deleting at once cannot both succeed.
import type { AuditLog, RequestContext } from '../audit/index.js';
import type { DatabaseClient, InTransaction } from '../core/db/client.js';
import type { Challenge, FactorRefusal, FactorsService } from '../factors/index.js';
import type { AccountsRepository, SignedInSession } from './repository.js';

/** An answer to one of the person's factors, with what its step remembered (a code sent). */
export interface FactorAnswer {
  factorId: string;
  challenge: Challenge | undefined;
  answer: string;
}

export type DeletionRefusal =
  /** The email typed to confirm is not the account's. */
  | { ok: false; reason: 'confirmation_mismatch' }
  /** Two-factor authentication is on and no factor was answered. */
  | { ok: false; reason: 'factor_required' }
  | { ok: false; reason: 'no_such_factor' }
  /** The factor's own refusal (a wrong code, a lock, the provider down), in its kind's reasons. */
  | { ok: false; reason: 'factor_refused'; kind: string; refusal: FactorRefusal }
  /** The person is the last admin who is not locked. */
  | { ok: false; reason: 'last_admin' }
  /** The account is already gone. */
  | { ok: false; reason: 'gone' }
  /** The session asking ended (sign out everywhere, a lock) while the factor was checked: nothing was deleted. */
  | { ok: false; reason: 'signed_out' };

export type Deletion = { ok: true } | DeletionRefusal;

export function accountDeletion(deps: {
  users: AccountsRepository;
  factors: Pick<FactorsService, 'list' | 'isTwoFactorOn' | 'check' | 'beginCheck' | 'removeAllIn'>;
  audit: AuditLog;
  inTransaction: InTransaction;
}) {
  const { users, factors, audit, inTransaction } = deps;

  /**
   * Inside `tx`, under the admin-changes lock: refuses for the last active admin, or when the
   * session asking no longer holds, else deletes.
   */
  async function deleteIn(tx: DatabaseClient, session: SignedInSession, context: RequestContext): Promise<Deletion> {
    const userId = session.id;
    await users.takeAdminChangesTurn(tx);
    const user = await users.findById(userId, tx);
    if (!user) return { ok: false, reason: 'gone' };
    if (!(await users.sessionHolds(session, tx))) return { ok: false, reason: 'signed_out' };
    if (user.role === 'ADMIN' && !user.lockedAt && (await users.countActiveAdmins(tx)) <= 1)
      return { ok: false, reason: 'last_admin' };
    // Through each factor's kind, so that an app kept by Twilio goes there too.
    await factors.removeAllIn(tx, userId, context);
    await audit.record({ type: 'account_deleted', outcome: 'ok', userId, context }, tx);
    await audit.forgetUser(userId, user.email, tx);
    // Sessions, refresh tokens and pending API sign-ins cascade with the row.
    await users.remove(userId, tx);
    return { ok: true };
  }

  return {
    /** Sends a code for the deletion's factor check (a phone, by `via`); `challenge` is what the step remembered. */
    beginFactorCheck: (
      userId: string,
      factorId: string,
      challenge: Challenge | undefined,
      via: string,
      context: RequestContext,
    ) => factors.beginCheck(userId, factorId, challenge, via, context),

    /**
     * Deletes the account of the signed-in person `user` when `confirmation` is their email and,
     * with two-factor authentication on, `factor` is a right answer to one of their factors (a
     * wrong one deletes nothing and counts toward the wrong-code lock).
     */
    async delete(
      user: SignedInSession & { email: string },
      input: { confirmation: string; factor: FactorAnswer | undefined },
      context: RequestContext,
    ): Promise<Deletion> {
      if (input.confirmation !== user.email) return { ok: false, reason: 'confirmation_mismatch' };
      if (factors.isTwoFactorOn(await factors.list(user.id))) {
        if (!input.factor) return { ok: false, reason: 'factor_required' };
        const { factorId, challenge, answer } = input.factor;
        const checked = await factors.check(user.id, factorId, challenge, answer, context);
        if (!checked.ok) {
          if (!('kind' in checked)) return { ok: false, reason: 'no_such_factor' };
          const { kind, ...refusal } = checked;
          return { ok: false, reason: 'factor_refused', kind, refusal };
        }
      }
      const deleted = await inTransaction((tx) => deleteIn(tx, user, context));
      if (!deleted.ok && deleted.reason === 'last_admin')
        await audit.record({
          type: 'account_deleted',
          outcome: 'refused',
          userId: user.id,
          context,
          detail: { reason: 'last_admin' },
        });
      return deleted;
    },
  };
}

export type AccountDeletion = ReturnType<typeof accountDeletion>;
