// What admins may do, and the record of it: figures, user actions with their safeguards, the
// delivery test bench, and the audit trail. Every action is audited with the acting admin.
import { createHash, randomBytes } from 'node:crypto';
import { END_EVERY_SESSION } from '../accounts/repository.js';
import type { AuditLog, RequestContext } from '../audit/audit-log.js';
import type { InTransaction } from '../core/db/client.js';
import type { Prisma } from '../generated/prisma/client.js';
import { RateLimitedError } from '../core/rate-limits.js';
import type { CodeLimits } from '../factors/phone/code-limits.js';
import { phoneHint } from '../factors/phone/numbers.js';
import { mayHaveSent, type Channel, type CheckResult, type StartResult, type CodeSender } from '../factors/phone/senders/sender.js';
import type { AdminRepository, AuditFilter, Confirmation } from './repository.js';

export const USER_ACTIONS = {
  'reset-2fa': { label: 'Reset two-factor authentication', question: 'Turn off two-factor authentication and forget the phone of' },
  lock: { label: 'Lock account', question: 'Lock the account and end every session of' },
  unlock: { label: 'Unlock account', question: 'Unlock the account of' },
  'sign-out-everywhere': { label: 'Sign out everywhere', question: 'End every session of' },
  'make-admin': { label: 'Make admin', question: 'Give admin rights to' },
  'remove-admin': { label: 'Remove admin', question: 'Take admin rights away from' },
} as const;

export type UserAction = keyof typeof USER_ACTIONS;

export function isUserAction(value: unknown): value is UserAction {
  return typeof value === 'string' && Object.hasOwn(USER_ACTIONS, value);
}

/** What each action changes on the user's row. */
const CHANGES: Record<UserAction, (now: Date) => Prisma.UserUpdateManyMutationInput> = {
  'reset-2fa': () => ({ phoneNumber: null, twoFactorEnabledAt: null }),
  lock: (now) => ({ lockedAt: now, ...END_EVERY_SESSION }),
  unlock: () => ({ lockedAt: null }),
  'sign-out-everywhere': () => END_EVERY_SESSION,
  'make-admin': () => ({ role: 'ADMIN' }),
  'remove-admin': () => ({ role: 'USER' }),
};

/** How long a confirmation page's confirmation can be used. */
const CONFIRMATION_LIFETIME_MS = 5 * 60_000;

export type ActionRefusal =
  /** Locking or demoting oneself: another admin must do it. */
  | 'own_account'
  /** Resetting one's own 2FA: that is done on one's account page, where the password is asked. */
  | 'own_two_factor'
  /** No confirmation from this admin's confirmation page, in this session, for this action on this user, unused and in time. */
  | 'not_confirmed'
  /** The acting admin was demoted or locked meanwhile. */
  | 'not_an_admin'
  | 'no_such_user';

/** What an admin may not do to their own account here, and why not. */
const OWN_ACCOUNT_REFUSALS: Partial<Record<UserAction, ActionRefusal>> = {
  lock: 'own_account',
  'remove-admin': 'own_account',
  'reset-2fa': 'own_two_factor',
};

export type ActionResult = { ok: true } | { ok: false; reason: ActionRefusal };

/** Where an action is confirmed from: the token on the confirmation page, and the session that opened it. */
export interface ActionConfirmation {
  token: string;
  sessionId: string;
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

export type BenchResult = (StartResult | CheckResult | { status: 'rate_limited'; message: string; providerStatus?: undefined; sid?: undefined; errorCode?: undefined }) & {
  channel?: Channel;
};

const CSV_COLUMNS = ['id', 'time', 'type', 'outcome', 'user', 'ip', 'user_agent', 'detail'];

/** One CSV field, quoted, and defused so a spreadsheet never runs it as a formula. */
function csvField(value: string | number | bigint | null | undefined): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

type AuditEventWithUser = Awaited<ReturnType<AdminRepository['auditPage']>>['events'][number];

function csvLine(event: AuditEventWithUser): string {
  const fields = [event.id, event.at.toISOString(), event.type, event.outcome, event.user?.email ?? event.userId, event.ip, event.userAgent, event.detail ? JSON.stringify(event.detail) : ''];
  return `${fields.map(csvField).join(',')}\r\n`;
}

export function adminService(deps: {
  repository: AdminRepository;
  audit: AuditLog;
  inTransaction: InTransaction;
  provider: CodeSender;
  codeLimits: CodeLimits;
  now?: () => Date;
}) {
  const { repository, audit, inTransaction, provider, codeLimits } = deps;
  const now = deps.now ?? (() => new Date());

  return {
    overview: () => repository.figures(now()),
    users: (query: string, page: number) => repository.searchUsers(query, page),
    findUser: (id: string) => repository.findUser(id),

    recordDenied(userId: string | undefined, context: RequestContext, path: string): Promise<void> {
      return audit.record({ type: 'admin_denied', outcome: 'refused', userId, context, detail: { path } });
    },

    /** A single-use confirmation for this admin, in this session, to do `action` to `targetId`. */
    async confirmation(adminId: string, targetId: string, action: UserAction, sessionId: string): Promise<string> {
      const token = randomBytes(32).toString('base64url');
      const issuedAt = now();
      const confirmation: Confirmation = { tokenHash: sha256(token), adminId, sessionHash: sha256(sessionId), action, targetId };
      await repository.saveConfirmation(confirmation, new Date(issuedAt.getTime() + CONFIRMATION_LIFETIME_MS), issuedAt);
      return token;
    },

    async act(adminId: string, targetId: string, action: UserAction, confirmed: ActionConfirmation, context: RequestContext): Promise<ActionResult> {
      const refusedOnOwnAccount = targetId === adminId ? OWN_ACCOUNT_REFUSALS[action] : undefined;
      const at = now();
      const confirmation = { tokenHash: sha256(confirmed.token), adminId, sessionHash: sha256(confirmed.sessionId), action, targetId };
      // The change, the use of its confirmation and its audit event land together, or none does.
      const outcome = await inTransaction(async (tx) => {
        const done = refusedOnOwnAccount ?? (await repository.applyConfirmed(tx, confirmation, at, CHANGES[action](at)));
        await audit.record({ type: 'admin_action', outcome: done === 'done' ? 'ok' : done, userId: adminId, context, detail: { action, target: targetId } }, tx);
        return done;
      });
      return outcome === 'done' ? { ok: true } : { ok: false, reason: outcome };
    },

    /** Sends a real code through the configured provider, on the channel the admin chose. */
    async benchSend(adminId: string, phone: string, channel: Channel, context: RequestContext): Promise<BenchResult> {
      let result: BenchResult;
      const keys = { user: adminId, phone, ip: context.ip };
      try {
        await codeLimits.reserveSend(keys);
        result = { ...(await provider.start(phone, channel)), channel };
        // A test the provider surely did not send does not count; a refused number does, and so
        // does a test that may have gone out.
        if ((result.status === 'unavailable' || result.status === 'channel_failed') && !mayHaveSent(result)) await codeLimits.giveBackSend(keys);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        result = { status: 'rate_limited', message: `Too many test codes. Wait ${Math.ceil(error.retryAfterSeconds / 60)} minutes.` };
      }
      await audit.record({
        type: 'admin_verify',
        outcome: result.status,
        userId: adminId,
        context,
        detail: { operation: 'send', channel, phone: phoneHint(phone), ...(result.providerStatus ? { providerStatus: result.providerStatus } : {}), ...(result.errorCode ? { errorCode: result.errorCode } : {}) },
      });
      return result;
    },

    /** Checks a code against the verification the bench itself started, not any other for the number. */
    async benchCheck(adminId: string, sent: { phone: string; verificationSid: string }, code: string, context: RequestContext): Promise<BenchResult> {
      const { phone, verificationSid } = sent;
      const result = await provider.check(verificationSid, code);
      await audit.record({
        type: 'admin_verify',
        outcome: result.status,
        userId: adminId,
        context,
        detail: { operation: 'check', phone: phoneHint(phone), ...(result.providerStatus ? { providerStatus: result.providerStatus } : {}), ...(result.errorCode ? { errorCode: result.errorCode } : {}) },
      });
      return result;
    },

    auditPage: (filter: AuditFilter, page: number) => repository.auditPage(filter, page),

    /**
     * The matching audit events as CSV lines, header first. Resolves once the first batch is
     * read: a query that fails does so before anything is sent, and gets a proper error page.
     */
    async auditCsv(filter: AuditFilter): Promise<AsyncGenerator<string>> {
      const events = repository.auditAll(filter);
      const first = await events.next();
      return (async function* () {
        yield `${CSV_COLUMNS.join(',')}\r\n`;
        if (first.done) return;
        yield csvLine(first.value);
        for await (const event of events) yield csvLine(event);
      })();
    },
  };
}

export type AdminService = ReturnType<typeof adminService>;
