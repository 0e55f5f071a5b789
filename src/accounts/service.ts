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
import { EmailTakenError, type AccountsRepository, type User } from './repository.js';

export type SignUpResult =
  | { ok: true; user: User }
  | { ok: false; errors: Partial<Record<'email' | 'password' | 'passwordConfirmation', string>> };

export function accountsService(users: AccountsRepository, audit: AuditLog) {
  return {
    async signUp(
      input: { email: string; password: string; passwordConfirmation: string },
      context: RequestContext,
    ): Promise<SignUpResult> {
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

    /** The user whose email and password these are, or null; takes as long either way. */
    async authenticate(email: string, rawPassword: string, context: RequestContext): Promise<User | null> {
      const password = normalisePassword(rawPassword);
      const user = await users.findByEmail(email);
      if (!user) {
        await spendVerificationTime(password);
        await audit.record({ type: 'sign_in_password', outcome: 'failed', context, detail: { reason: 'unknown_account' } });
        return null;
      }
      if (!(await verifyPassword(user.passwordHash, password))) {
        await audit.record({ type: 'sign_in_password', outcome: 'failed', userId: user.id, context, detail: { reason: 'wrong_password' } });
        return null;
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

    recentSignIns(userId: string) {
      return audit.recentSignIns(userId);
    },

    findUser(id: string): Promise<User | null> {
      return users.findById(id);
    },
  };
}

export type AccountsService = ReturnType<typeof accountsService>;
