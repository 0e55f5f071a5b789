// What a person does about their account by email: verify the address, reset a forgotten
// password, change the address. Each sends a link (email-tokens.ts) in the transaction that
// issues it, so a link exists if and only if its mail was queued. Knows nothing of HTTP.
import type { AuditLog, RequestContext } from '../audit/index.js';
import type { Limits } from '../config.js';
import type { DatabaseClient, InTransaction } from '../core/db/client.js';
import { ipLimitKey } from '../core/ip.js';
import { RateLimitedError, type LimitFactory } from '../core/rate-limits.js';
import type { Email } from '../mail/index.js';
import { addressHint } from '../mail/index.js';
import type { EmailTokensRepository } from './email-tokens.js';
import { hashPassword, newPasswordProblems, normalisePassword, type NewPasswordProblems } from './passwords.js';
import {
  EmailTakenError,
  END_EVERY_SESSION,
  type AccountsRepository,
  type SignedInSession,
  type User,
} from './repository.js';

export const PASSWORD_RESET_MINUTES = 30;
const VERIFY_EMAIL_MINUTES = 24 * 60;
/** "Forgot password?" answers no sooner than this, account or not (far above the work's own time). */
const RESET_ANSWER_FLOOR_MS = 250;

/** Sends a mail inside the transaction of the change it tells of. */
export type SendMail = (to: string, email: Email, db: DatabaseClient) => Promise<void>;

export type Limited = { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

/** The session asking ended (sign out everywhere, a lock) before its link could be issued: none was. */
export type SignedOut = { ok: false; reason: 'signed_out' };

export type ResetPasswordResult =
  | { ok: true; userId: string }
  | { ok: false; reason: 'invalid_link' | 'second_factor_required' }
  | { ok: false; reason: 'weak_password'; problems: NewPasswordProblems };

export type EmailChangeResult = { ok: true } | { ok: false; reason: 'same_email' } | Limited | SignedOut;

export type ConfirmEmailChangeResult = { ok: true; userId: string } | { ok: false; reason: 'invalid_link' | 'taken' };

export function selfService(deps: {
  users: AccountsRepository;
  tokens: EmailTokensRepository;
  audit: AuditLog;
  inTransaction: InTransaction;
  limit: LimitFactory;
  limits: Pick<Limits, 'passwordResetsPerIp' | 'mailsPerAccount'>;
  sendMail: SendMail;
  /** Whether the person has a second factor: a password reset then needs it too. */
  hasSecondFactor: (userId: string) => Promise<boolean>;
}) {
  const { users, tokens, audit, inTransaction, limit, limits, sendMail, hasSecondFactor } = deps;
  const resetsByIp = limit({ name: 'password_reset_ip', points: limits.passwordResetsPerIp, durationSec: 3_600 });
  // Keyed by the address typed, known or not, so the limit itself says nothing of accounts.
  const resetsByEmail = limit({ name: 'password_reset_email', points: limits.mailsPerAccount, durationSec: 3_600 });
  const mailsByUser = limit({ name: 'account_mail_user', points: limits.mailsPerAccount, durationSec: 3_600 });

  /** Takes a point of each limit; the first refusal is audited and returned. */
  async function within(
    steps: Array<() => Promise<unknown>>,
    context: RequestContext,
    userId?: string,
  ): Promise<Limited | undefined> {
    try {
      for (const step of steps) await step();
      return undefined;
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      await audit.record({ type: 'rate_limited', outcome: 'refused', userId, context, detail: { rule: error.rule } });
      return { ok: false, reason: 'rate_limited', retryAfterSeconds: error.retryAfterSeconds };
    }
  }

  async function sendVerification(user: Pick<User, 'id' | 'email'>, context: RequestContext, db: DatabaseClient) {
    const token = await tokens.issue(
      { userId: user.id, purpose: 'verify_email', email: user.email, lifetimeMs: VERIFY_EMAIL_MINUTES * 60_000 },
      db,
    );
    await sendMail(user.email, { kind: 'verify_email', token, minutes: VERIFY_EMAIL_MINUTES }, db);
    await audit.record({ type: 'email_verification_sent', outcome: 'ok', userId: user.id, context }, db);
  }

  return {
    /** The first verification mail, in the sign-up's own transaction. */
    sendVerification,

    /**
     * "Send the link again": a new link (the old one stops working), limited per account; none
     * when `signedIn`'s session ended meanwhile.
     */
    async resendVerification(
      signedIn: SignedInSession,
      context: RequestContext,
    ): Promise<{ ok: true } | { ok: false; reason: 'already_verified' } | Limited | SignedOut> {
      const userId = signedIn.id;
      const user = await users.findById(userId);
      if (!user) throw new Error('the signed-in account is gone');
      if (user.emailVerifiedAt) return { ok: false, reason: 'already_verified' };
      const limited = await within([() => mailsByUser.take(userId)], context, userId);
      if (limited) return limited;
      const sent = await inTransaction(async (tx) => {
        if (!(await users.sessionHolds(signedIn, tx))) return false;
        await sendVerification(user, context, tx);
        return true;
      });
      return sent ? { ok: true } : { ok: false, reason: 'signed_out' };
    },

    /** The address the link confirms, while it is still good (the page asks before using it). */
    async verificationTarget(token: string): Promise<{ email: string } | undefined> {
      const found = await tokens.find(token, 'verify_email');
      return found ? { email: found.email } : undefined;
    },

    /** Uses a verification link: the account's address is confirmed, if it is still the one the link went to. */
    verifyEmail(token: string, context: RequestContext): Promise<{ ok: true } | { ok: false; reason: 'invalid_link' }> {
      return inTransaction(async (tx) => {
        const used = await tokens.use(token, 'verify_email', tx);
        const user = used && (await users.findById(used.userId, tx));
        if (!used || !user || user.email !== used.email) return { ok: false, reason: 'invalid_link' } as const;
        await users.changeStanding(user.id, { emailVerifiedAt: user.emailVerifiedAt ?? new Date() }, tx);
        await audit.record({ type: 'email_verified', outcome: 'ok', userId: user.id, context }, tx);
        return { ok: true } as const;
      });
    },

    /**
     * "Forgot password?": mails a link when `email` has an account. The answer, and the work
     * done (a lookup and a transaction with its audit event), are the same either way.
     */
    async requestPasswordReset(email: string, context: RequestContext): Promise<{ ok: true } | Limited> {
      const limited = await within(
        [() => resetsByIp.take(ipLimitKey(context.ip)), () => resetsByEmail.take(email)],
        context,
      );
      if (limited) return limited;
      const started = Date.now();
      const user = await users.findByEmail(email);
      await inTransaction(async (tx) => {
        if (user) {
          const token = await tokens.issue(
            {
              userId: user.id,
              purpose: 'password_reset',
              email: user.email,
              lifetimeMs: PASSWORD_RESET_MINUTES * 60_000,
            },
            tx,
          );
          await sendMail(user.email, { kind: 'password_reset', token, minutes: PASSWORD_RESET_MINUTES }, tx);
        }
        await audit.record(
          { type: 'password_reset_requested', outcome: user ? 'sent' : 'unknown_account', userId: user?.id, context },
          tx,
        );
      });
      // An account costs a link and a mail more: every answer waits for the same floor, so how
      // long it took says nothing of whether the address has an account.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, RESET_ANSWER_FLOOR_MS - (Date.now() - started))));
      return { ok: true };
    },

    /**
     * Whose password a reset link resets, while it is still good, and whether their second
     * factor must be passed first (without using the link).
     */
    async resetTarget(
      token: string,
    ): Promise<{ userId: string; tokenHash: string; needsSecondFactor: boolean } | undefined> {
      const found = await tokens.find(token, 'password_reset');
      if (!found) return undefined;
      return {
        userId: found.userId,
        tokenHash: found.tokenHash,
        needsSecondFactor: await hasSecondFactor(found.userId),
      };
    },

    /**
     * Sets the new password from a reset link: the link is used, every session and API sign-in
     * of the account ends (and so every other link), the address counts as verified. A person
     * with 2FA must have passed their second factor for this very link (`passedFor`, the
     * link's hash) first: a mailbox alone never takes over an account with 2FA.
     */
    async resetPassword(
      token: string,
      input: { password: string; passwordConfirmation: string },
      passedFor: string | undefined,
      context: RequestContext,
    ): Promise<ResetPasswordResult> {
      const target = await tokens.find(token, 'password_reset');
      if (!target) return { ok: false, reason: 'invalid_link' };
      const problems = newPasswordProblems(input.password, input.passwordConfirmation, target.email);
      if (Object.keys(problems).length) return { ok: false, reason: 'weak_password', problems };
      if (passedFor !== target.tokenHash && (await hasSecondFactor(target.userId)))
        return { ok: false, reason: 'second_factor_required' };
      const passwordHash = await hashPassword(normalisePassword(input.password));
      return inTransaction(async (tx) => {
        const used = await tokens.use(token, 'password_reset', tx);
        if (!used) return { ok: false, reason: 'invalid_link' } as const;
        const user = await users.findById(used.userId, tx);
        if (!user) return { ok: false, reason: 'invalid_link' } as const;
        await users.changeStanding(
          user.id,
          {
            passwordHash,
            ...END_EVERY_SESSION,
            ...(user.email === used.email && !user.emailVerifiedAt ? { emailVerifiedAt: new Date() } : {}),
          },
          tx,
        );
        await tokens.voidAll(user.id, ['password_reset', 'change_email'], tx);
        await audit.record({ type: 'password_reset', outcome: 'ok', userId: user.id, context }, tx);
        return { ok: true, userId: user.id } as const;
      });
    },

    /**
     * A change of email: a link to the new address makes it, a notice goes to the old one.
     * Whether the new address has an account is not said here (the link's use says it is taken).
     * No link when `signedIn`'s session ended before it was issued: "sign out everywhere" voids
     * pending changes, and one issued after it would survive it.
     */
    async requestEmailChange(
      signedIn: SignedInSession,
      newEmail: string,
      context: RequestContext,
    ): Promise<EmailChangeResult> {
      const userId = signedIn.id;
      const user = await users.findById(userId);
      if (!user) throw new Error('the signed-in account is gone');
      if (user.email === newEmail) return { ok: false, reason: 'same_email' };
      const limited = await within([() => mailsByUser.take(userId)], context, userId);
      if (limited) return limited;
      const issued = await inTransaction(async (tx) => {
        if (!(await users.sessionHolds(signedIn, tx))) return false;
        const token = await tokens.issue(
          { userId, purpose: 'change_email', email: newEmail, lifetimeMs: VERIFY_EMAIL_MINUTES * 60_000 },
          tx,
        );
        await sendMail(newEmail, { kind: 'change_email', token, minutes: VERIFY_EMAIL_MINUTES }, tx);
        await sendMail(user.email, { kind: 'email_change_asked', newAddressHint: addressHint(newEmail) }, tx);
        await audit.record({ type: 'email_change_requested', outcome: 'ok', userId, context }, tx);
        return true;
      });
      return issued ? { ok: true } : { ok: false, reason: 'signed_out' };
    },

    /** The new address a change link confirms, while it is still good. */
    async emailChangeTarget(token: string): Promise<{ email: string } | undefined> {
      const found = await tokens.find(token, 'change_email');
      return found ? { email: found.email } : undefined;
    },

    /** Uses a change link: the account's address becomes the new one, confirmed; the old one is told. */
    async confirmEmailChange(token: string, context: RequestContext): Promise<ConfirmEmailChangeResult> {
      try {
        return await inTransaction(async (tx) => {
          const used = await tokens.use(token, 'change_email', tx);
          const user = used && (await users.findById(used.userId, tx));
          if (!used || !user) return { ok: false, reason: 'invalid_link' } as const;
          await users.changeEmail(user.id, used.email, tx);
          // Links sent to the old address (a reset) no longer open the account.
          await tokens.voidAll(user.id, ['password_reset', 'verify_email'], tx);
          await sendMail(user.email, { kind: 'email_changed', newAddressHint: addressHint(used.email) }, tx);
          await audit.record({ type: 'email_changed', outcome: 'ok', userId: user.id, context }, tx);
          return { ok: true, userId: user.id } as const;
        });
      } catch (error) {
        if (error instanceof EmailTakenError) return { ok: false, reason: 'taken' };
        throw error;
      }
    },

    /** Whether a sign-in from a browser new to the account is mailed to the person. */
    async setNewBrowserNotices(userId: string, on: boolean, context: RequestContext): Promise<void> {
      await inTransaction(async (tx) => {
        await users.changeStanding(userId, { notifyNewBrowser: on }, tx);
        await audit.record({ type: 'notice_settings', outcome: on ? 'on' : 'off', userId, context }, tx);
      });
    },
  };
}

export type SelfService = ReturnType<typeof selfService>;
