// Account rules: who may sign up, and whose password is right. Knows nothing of HTTP.
import {
  hashNeedsUpgrade,
  hashPassword,
  normalisePassword,
  passwordProblem,
  spendVerificationTime,
  verifyPassword,
} from './passwords.js';
import type { AuditLog, RequestContext } from '../audit/audit-log.js';
import { RateLimitedError } from '../core/rate-limits.js';
import { EmailTakenError, type AccountsRepository, type User } from './repository.js';
import type { SignInLimits } from './sign-in-limits.js';

export type SignUpResult =
  | { ok: true; user: User }
  | { ok: false; errors: Partial<Record<'email' | 'password' | 'passwordConfirmation', string>> };

export function accountsService(users: AccountsRepository, audit: AuditLog, limits: SignInLimits) {
  /** Runs a limit check; a refusal is written to the audit trail and passed on. */
  async function limited(check: Promise<void>, context: RequestContext, userId?: string): Promise<void> {
    try {
      await check;
    } catch (error) {
      if (error instanceof RateLimitedError) {
        await audit.record({ type: 'rate_limited', outcome: 'refused', userId, context, detail: { rule: error.rule } });
      }
      throw error;
    }
  }

  return {
    async signUp(
      input: { email: string; password: string; passwordConfirmation: string },
      context: RequestContext,
    ): Promise<SignUpResult> {
      await limited(limits.signUp(context.ip ?? 'unknown'), context);
      const password = normalisePassword(input.password);
      const problem = passwordProblem(password, input.email);
      if (problem) return { ok: false, errors: { password: problem } };
      if (password !== normalisePassword(input.passwordConfirmation)) {
        return { ok: false, errors: { passwordConfirmation: 'The two passwords do not match.' } };
      }
      try {
        const user = await users.create({ email: input.email, passwordHash: await hashPassword(password) });
        await audit.record({ type: 'sign_up', outcome: 'ok', userId: user.id, context });
        return { ok: true, user };
      } catch (error) {
        if (error instanceof EmailTakenError) {
          return { ok: false, errors: { email: 'An account with this email already exists. Sign in instead.' } };
        }
        throw error;
      }
    },

    /**
     * The user whose email and password these are; null when they do not match (taking as
     * long either way), 'locked' when they match an account an admin has locked.
     */
    async authenticate(email: string, rawPassword: string, context: RequestContext): Promise<User | null | 'locked'> {
      const ip = context.ip ?? 'unknown';
      const user = await users.findByEmail(email);
      await limited(limits.beforeAttempt(email, ip), context, user?.id);
      const password = normalisePassword(rawPassword);
      if (!user) {
        await spendVerificationTime(password);
        await limits.failed(email, ip);
        await audit.record({ type: 'sign_in_password', outcome: 'failed', context, detail: { reason: 'unknown_account' } });
        return null;
      }
      if (!(await verifyPassword(user.passwordHash, password))) {
        await limits.failed(email, ip);
        await audit.record({ type: 'sign_in_password', outcome: 'failed', userId: user.id, context, detail: { reason: 'wrong_password' } });
        return null;
      }
      await limits.succeeded(email);
      if (user.lockedAt) {
        await audit.record({ type: 'sign_in_password', outcome: 'locked', userId: user.id, context });
        return 'locked';
      }
      await audit.record({ type: 'sign_in_password', outcome: 'ok', userId: user.id, context });
      if (hashNeedsUpgrade(user.passwordHash)) {
        await users.updatePasswordHash(user.id, await hashPassword(password));
      }
      return user;
    },

    /** Re-authentication for sensitive changes: is this the user's current password? */
    async passwordMatches(userId: string, rawPassword: string): Promise<boolean> {
      const password = normalisePassword(rawPassword);
      const user = await users.findById(userId);
      if (!user) {
        await spendVerificationTime(password);
        return false;
      }
      return verifyPassword(user.passwordHash, password);
    },

    /** The person is fully signed in (password, and code when 2FA is on). */
    recordSignIn(userId: string, context: RequestContext, method: 'password' | 'password_and_code'): Promise<void> {
      return audit.record({ type: 'sign_in', outcome: 'ok', userId, context, detail: { method } });
    },

    recordSignOut(userId: string, context: RequestContext): Promise<void> {
      return audit.record({ type: 'sign_out', outcome: 'ok', userId, context });
    },

    recordSignOutEverywhere(userId: string, context: RequestContext): Promise<void> {
      return audit.record({ type: 'sign_out', outcome: 'ok', userId, context, detail: { everywhere: true } });
    },

    recentSignIns(userId: string) {
      return audit.recentSignIns(userId);
    },

    findUser(id: string): Promise<User | null> {
      return users.findById(id);
    },
  };
}

export type AccountsService = ReturnType<typeof accountsService>;
