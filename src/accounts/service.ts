// Account rules: who may sign up, and whose password is right. Knows nothing of HTTP.
import {
  hashNeedsUpgrade,
  hashPassword,
  normalisePassword,
  newPasswordProblems,
  passwordProblem,
  spendVerificationTime,
  verifyPassword,
  type NewPasswordProblems,
  type PasswordProblem,
} from './passwords.js';
import type { AuditEntry, AuditLog, RequestContext } from '../audit/index.js';
import type { DatabaseClient, InTransaction } from '../core/db/client.js';
import { RateLimitedError } from '../core/rate-limits.js';
import {
  EmailTakenError,
  END_EVERY_SESSION,
  type AccountsRepository,
  type AccountSummary,
  type Role,
  type SignedInSession,
  type User,
} from './repository.js';
import type { EmailTokensRepository } from './email-tokens.js';
import type { SignInLimits } from './sign-in-limits.js';

/** Why a sign-up is refused, by field: the email already has an account, or the new password's problems. */
export interface SignUpProblems extends NewPasswordProblems {
  email?: 'taken';
}

export type SignUpResult = { ok: true; user: User } | { ok: false; problems: SignUpProblems };

export type Authentication =
  | { ok: true; user: User }
  | { ok: false; reason: 'wrong_credentials' | 'locked' }
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

/** Whether a password confirmation was accepted, and why not when it was refused. */
export type PasswordConfirmation =
  | { ok: true }
  | { ok: false; reason: 'wrong_password' | 'locked' }
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

/** Whether `npm run admin:create` made a new admin account, and why not. */
export type AdminCreation =
  | { ok: true; user: User }
  /** The password policy refused the password; `problem` says why (passwords.ts). */
  | { ok: false; reason: 'weak_password'; problem: PasswordProblem }
  /** An account with this email exists (made meanwhile): promote it instead. */
  | { ok: false; reason: 'email_taken' };

/** Whether a password change was made, and why not. */
export type PasswordChange =
  | { ok: true; user: User }
  | { ok: false; reason: 'wrong_password' | 'locked' }
  /** The session asking ended (sign out everywhere, a lock) before the change could be made. */
  | { ok: false; reason: 'signed_out' }
  | { ok: false; reason: 'weak_password'; problems: NewPasswordProblems }
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

export function accountsService(
  users: AccountsRepository,
  audit: AuditLog,
  limits: SignInLimits,
  inTransaction: InTransaction,
  email: {
    tokens: EmailTokensRepository;
    /** Mails the new account a link confirming its address, inside the sign-up's transaction. */
    sendVerification: (user: User, context: RequestContext, tx: DatabaseClient) => Promise<void>;
  },
) {
  /** Awaits a step guarded by a limit; a refusal is written to the audit trail and passed on. */
  async function limited<T>(check: Promise<T>, context: RequestContext, userId?: string): Promise<T> {
    try {
      return await check;
    } catch (error) {
      if (error instanceof RateLimitedError) {
        await audit.record({ type: 'rate_limited', outcome: 'refused', userId, context, detail: { rule: error.rule } });
      }
      throw error;
    }
  }

  /**
   * Whether `password` is `user`'s (taking as long when there is no user), counted against the
   * sign-in limits of `email` and the IP, so that every password check shares one account lock.
   * Throws RateLimitedError while a limit refuses.
   */
  function countedPasswordCheck(
    email: string,
    user: User | null,
    password: string,
    context: RequestContext,
  ): Promise<boolean> {
    return limits.attempt(email, context.ip, async () => {
      if (user) return verifyPassword(user.passwordHash, password);
      await spendVerificationTime(password);
      return false;
    });
  }

  /**
   * Re-authentication before a sensitive change ("sudo mode"): is this the signed-in
   * person's current password? Wrong guesses count toward the same lock as sign-in.
   */
  async function confirmPassword(
    signedIn: { id: string; email: string },
    rawPassword: string,
    context: RequestContext,
  ): Promise<PasswordConfirmation> {
    const user = await users.findById(signedIn.id);
    const record = (outcome: string, detail?: AuditEntry['detail']) =>
      audit.record({ type: 'password_confirmation', outcome, userId: signedIn.id, context, detail });
    let matches: boolean;
    try {
      matches = await countedPasswordCheck(signedIn.email, user, normalisePassword(rawPassword), context);
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      await record('rate_limited', { rule: error.rule });
      return { ok: false, reason: 'rate_limited', retryAfterSeconds: error.retryAfterSeconds };
    }
    if (!user || !matches) {
      await record('failed');
      return { ok: false, reason: 'wrong_password' };
    }
    if (user.lockedAt) {
      await record('locked');
      return { ok: false, reason: 'locked' };
    }
    await record('ok');
    return { ok: true };
  }

  return {
    async signUp(
      input: { email: string; password: string; passwordConfirmation: string },
      context: RequestContext,
    ): Promise<SignUpResult> {
      await limited(limits.signUp(context.ip), context);
      const problems = newPasswordProblems(input.password, input.passwordConfirmation, input.email);
      if (Object.keys(problems).length) return { ok: false, problems };
      const passwordHash = await hashPassword(normalisePassword(input.password));
      try {
        const user = await inTransaction(async (tx) => {
          const created = await users.create({ email: input.email, passwordHash }, tx);
          await audit.record({ type: 'sign_up', outcome: 'ok', userId: created.id, context }, tx);
          await email.sendVerification(created, context, tx);
          return created;
        });
        return { ok: true, user };
      } catch (error) {
        if (error instanceof EmailTakenError) {
          return { ok: false, problems: { email: 'taken' } };
        }
        throw error;
      }
    },

    /**
     * The user whose email and password these are, or why not: a wrong email or password
     * (taking as long either way, and not saying which), an account an admin locked (said only
     * to someone who knows the password), or too many attempts.
     */
    async authenticate(email: string, rawPassword: string, context: RequestContext): Promise<Authentication> {
      const user = await users.findByEmail(email);
      const password = normalisePassword(rawPassword);
      let matches: boolean;
      try {
        matches = await limited(countedPasswordCheck(email, user, password, context), context, user?.id);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        return { ok: false, reason: 'rate_limited', retryAfterSeconds: error.retryAfterSeconds };
      }
      if (!user || !matches) {
        const reason = user ? 'wrong_password' : 'unknown_account';
        await audit.record({
          type: 'sign_in_password',
          outcome: 'failed',
          userId: user?.id,
          context,
          detail: { reason },
        });
        return { ok: false, reason: 'wrong_credentials' };
      }
      if (user.lockedAt) {
        await audit.record({ type: 'sign_in_password', outcome: 'locked', userId: user.id, context });
        return { ok: false, reason: 'locked' };
      }
      await audit.record({ type: 'sign_in_password', outcome: 'ok', userId: user.id, context });
      if (hashNeedsUpgrade(user.passwordHash)) {
        await users.updatePasswordHash(user.id, await hashPassword(password));
      }
      return { ok: true, user };
    },

    confirmPassword,

    /**
     * "Change password": the current one (counted toward the account lock like any password
     * check), then the new one by the sign-up rules. Every session and API sign-in of the
     * account ends (the caller starts this one again) and reset links stop working. Refused
     * when `signedIn`'s session ended while the new password was hashed: a "sign out
     * everywhere" meanwhile wins, and the session that asked stays signed out.
     */
    async changePassword(
      signedIn: SignedInSession & { email: string },
      input: { currentPassword: string; password: string; passwordConfirmation: string },
      context: RequestContext,
    ): Promise<PasswordChange> {
      const confirmed = await confirmPassword(signedIn, input.currentPassword, context);
      if (!confirmed.ok) return confirmed;
      const problems = newPasswordProblems(input.password, input.passwordConfirmation, signedIn.email);
      if (Object.keys(problems).length) return { ok: false, reason: 'weak_password', problems };
      const passwordHash = await hashPassword(normalisePassword(input.password));
      const user = await inTransaction(async (tx) => {
        if (!(await users.sessionHolds(signedIn, tx))) return 'signed_out' as const;
        await users.changeStanding(signedIn.id, { passwordHash, ...END_EVERY_SESSION }, tx);
        await email.tokens.voidAll(signedIn.id, ['password_reset'], tx);
        await audit.record({ type: 'password_changed', outcome: 'ok', userId: signedIn.id, context }, tx);
        return users.findById(signedIn.id, tx);
      });
      if (user === 'signed_out') return { ok: false, reason: 'signed_out' };
      if (!user) throw new Error('the signed-in account is gone');
      return { ok: true, user };
    },

    recordSignOut(userId: string, context: RequestContext): Promise<void> {
      return audit.record({ type: 'sign_out', outcome: 'ok', userId, context });
    },

    /** Ends every session of the user, this one included, wherever it is kept. */
    signOutEverywhere(userId: string, context: RequestContext): Promise<void> {
      return inTransaction(async (tx) => {
        await users.endEverySession(userId, tx);
        await audit.record({ type: 'sign_out', outcome: 'ok', userId, context, detail: { everywhere: true } }, tx);
      });
    },

    recentSignIns(userId: string) {
      return audit.recentSignIns(userId);
    },

    /** The account, read inside the transaction `tx` when one is given. */
    findUser(id: string, tx?: DatabaseClient): Promise<User | null> {
      return users.findById(id, tx);
    },

    /** The account with this (normalised) email. */
    findByEmail(email: string, tx?: DatabaseClient): Promise<User | null> {
      return users.findByEmail(email, tx);
    },

    /** How many accounts there are. */
    count: (): Promise<number> => users.count(),

    /** One page of the accounts whose email contains `query` (every account for ''), newest first. */
    search(query: string, page: { number: number; size: number }): Promise<{ total: number; users: AccountSummary[] }> {
      return users.search(query, (page.number - 1) * page.size, page.size);
    },

    /** The email of each of these accounts that still exists. */
    emailsOf: (ids: string[]): Promise<Map<string, string>> => users.emailsOf([...new Set(ids)]),

    // ---- What an admin changes ---------------------------------------------------------------
    // Each runs inside the caller's transaction `tx`, so that the admin area lands the change
    // with the use of its confirmation and its own audit event (src/admin/service.ts), and says
    // whether the account was there.

    /** Whether the account is an admin's that is not locked: only such an admin may act. */
    async isActiveAdmin(id: string, tx?: DatabaseClient): Promise<boolean> {
      const user = await users.findById(id, tx);
      return user?.role === 'ADMIN' && !user.lockedAt;
    },

    /** Locks the account (it cannot sign in until unlocked) and ends every session of it. */
    lock: (id: string, at: Date, tx?: DatabaseClient): Promise<boolean> =>
      users.changeStanding(id, { lockedAt: at, ...END_EVERY_SESSION }, tx),

    unlock: (id: string, tx?: DatabaseClient): Promise<boolean> => users.changeStanding(id, { lockedAt: null }, tx),

    setRole: (id: string, role: Role, tx?: DatabaseClient): Promise<boolean> => users.changeStanding(id, { role }, tx),

    /** Ends every session of the account, wherever it is kept. */
    endEverySession: (id: string, tx?: DatabaseClient): Promise<boolean> =>
      users.changeStanding(id, END_EVERY_SESSION, tx),

    // ---- npm run admin:create ----------------------------------------------------------------

    /** Gives admin rights to the account with this email, audited as admin_created (when it was not an admin yet). */
    makeAdmin(email: string, context: RequestContext): Promise<'done' | 'no_such_account'> {
      return inTransaction(async (tx) => {
        const user = await users.findByEmail(email, tx);
        if (!user) return 'no_such_account';
        if (user.role === 'ADMIN') return 'done';
        await users.changeStanding(user.id, { role: 'ADMIN' }, tx);
        await audit.record(
          { type: 'admin_created', outcome: 'ok', userId: user.id, context, detail: { account: 'existing' } },
          tx,
        );
        return 'done';
      });
    },

    /** Creates an admin account with this email and password, audited as admin_created. */
    async createAdmin(email: string, rawPassword: string, context: RequestContext): Promise<AdminCreation> {
      const password = normalisePassword(rawPassword);
      const problem = passwordProblem(password, email);
      if (problem) return { ok: false, reason: 'weak_password', problem };
      const passwordHash = await hashPassword(password);
      try {
        const user = await inTransaction(async (tx) => {
          const created = await users.create({ email, passwordHash, role: 'ADMIN' }, tx);
          await audit.record(
            { type: 'admin_created', outcome: 'ok', userId: created.id, context, detail: { account: 'new' } },
            tx,
          );
          return created;
        });
        return { ok: true, user };
      } catch (error) {
        if (error instanceof EmailTakenError) return { ok: false, reason: 'email_taken' };
        throw error;
      }
    },
  };
}

export type AccountsService = ReturnType<typeof accountsService>;
