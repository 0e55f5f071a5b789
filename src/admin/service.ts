// What admins may do, and the record of it: figures, user actions with their safeguards, the
// delivery test bench, and the audit trail. Every action is audited with the acting admin.
import { END_EVERY_SESSION } from '../accounts/repository.js';
import type { AuditLog, RequestContext } from '../audit/audit-log.js';
import type { InTransaction } from '../core/db/client.js';
import type { Prisma } from '../generated/prisma/client.js';
import { RateLimitedError } from '../core/rate-limits.js';
import type { CodeLimits } from '../two-factor/code-limits.js';
import { phoneHint } from '../two-factor/phone.js';
import type { Channel, CheckResult, StartResult, VerificationProvider } from '../two-factor/providers/provider.js';
import type { AdminRepository, AuditFilter } from './repository.js';

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

export type ActionResult = { ok: true; message: string } | { ok: false; message: string };

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

export function adminService(deps: {
  repository: AdminRepository;
  audit: AuditLog;
  inTransaction: InTransaction;
  provider: VerificationProvider;
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

    async act(adminId: string, targetId: string, action: UserAction, context: RequestContext): Promise<ActionResult> {
      const target = await repository.findUser(targetId);
      if (!target) return { ok: false, message: 'There is no such user.' };
      if (targetId === adminId && (action === 'lock' || action === 'remove-admin')) {
        return { ok: false, message: 'You cannot lock yourself out or remove your own admin rights; ask another admin.' };
      }
      const change = {
        'reset-2fa': { phoneNumber: null, twoFactorEnabledAt: null },
        lock: { lockedAt: now(), ...END_EVERY_SESSION },
        unlock: { lockedAt: null },
        'sign-out-everywhere': END_EVERY_SESSION,
        'make-admin': { role: 'ADMIN' },
        'remove-admin': { role: 'USER' },
      } satisfies Record<UserAction, Prisma.UserUpdateInput>;
      // The change and its audit event land together, or neither does.
      await inTransaction(async (tx) => {
        await repository.update(targetId, change[action], tx);
        await audit.record({ type: 'admin_action', outcome: 'ok', userId: adminId, context, detail: { action, target: targetId } }, tx);
      });
      return { ok: true, message: `Done: ${USER_ACTIONS[action].label.toLowerCase()} for ${target.email}.` };
    },

    /** Sends a real code through the configured provider, on the channel the admin chose. */
    async benchSend(adminId: string, phone: string, channel: Channel, context: RequestContext): Promise<BenchResult> {
      let result: BenchResult;
      const keys = { user: adminId, phone, ip: context.ip };
      try {
        await codeLimits.reserveSend(keys);
        result = { ...(await provider.start(phone, channel)), channel };
        // A test lost to a provider that is down or failing does not count; a refused number does.
        if (result.status === 'unavailable' || result.status === 'channel_failed') await codeLimits.giveBackSend(keys);
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

    /** The matching audit events as CSV lines, header first. */
    async *auditCsv(filter: AuditFilter): AsyncGenerator<string> {
      yield `${CSV_COLUMNS.join(',')}\r\n`;
      for await (const event of repository.auditAll(filter)) {
        yield `${[
          event.id,
          event.at.toISOString(),
          event.type,
          event.outcome,
          event.user?.email ?? event.userId,
          event.ip,
          event.userAgent,
          event.detail ? JSON.stringify(event.detail) : '',
        ]
          .map(csvField)
          .join(',')}\r\n`;
      }
    },
  };
}

export type AdminService = ReturnType<typeof adminService>;
