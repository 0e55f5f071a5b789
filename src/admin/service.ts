// What admins may do, and the record of it: figures, user actions with their safeguards, the
// delivery test bench, and the audit trail. Every action is audited with the acting admin.
// Admin keeps only its confirmations; it reads and changes accounts, factors and the audit
// trail through their features' public functions.
import { createHash, randomBytes } from 'node:crypto';
import type { AccountsService, AccountSummary, User } from '../accounts/index.js';
import type { AuditEventFilter, AuditEventRecord, AuditLog, AuditType, RequestContext } from '../audit/index.js';
import type { DatabaseClient, InTransaction } from '../core/db/client.js';
import { RateLimitedError } from '../core/rate-limits.js';
import {
  mayHaveSent,
  phoneHint,
  type Channel,
  type CheckResult,
  type CodeLimits,
  type CodeSender,
  type FactorsService,
  type StartResult,
  type UserFactor,
} from '../factors/index.js';
import type { AdminRepository, Confirmation } from './repository.js';

/** How many users, or audit events, a page lists. */
export const PAGE_SIZE = 20;

/** What the admin asks of the audit trail: a user by email, a type, a time span (all optional). */
export interface AuditFilter {
  userEmail?: string;
  type?: AuditType;
  from?: Date;
  to?: Date;
}

export const USER_ACTIONS = {
  'reset-2fa': {
    label: 'Reset two-factor authentication',
    question: 'Turn off two-factor authentication (every phone, authenticator app and recovery code) of',
  },
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

/** The bench's own limits refused a test: nothing went to the provider. */
export interface BenchLimited {
  status: 'rate_limited';
  retryAfterSeconds: number;
  providerStatus?: undefined;
  sid?: undefined;
  errorCode?: undefined;
}

/** What the provider answered a test (or the bench's own refusal): typed, the page words it. */
export type BenchResult = (StartResult | CheckResult | BenchLimited) & { channel?: Channel };

/** A user as the admin list shows them: the account, whether 2FA is on, and their factors (phones to be masked). */
export interface ListedUser extends AccountSummary {
  twoFactor: boolean;
  factors: Array<Pick<UserFactor, 'kind' | 'phoneNumber' | 'lastUsedAt'>>;
}

/** An audit event with the email of its user, when it has one that still exists. */
export interface AuditEventWithUser extends AuditEventRecord {
  user: { email: string } | null;
}

type ConfirmedChangeOutcome = 'done' | 'not_confirmed' | 'not_an_admin' | 'no_such_user';

const CSV_COLUMNS = ['id', 'time', 'type', 'outcome', 'user', 'ip', 'user_agent', 'detail'];

/** One CSV field, quoted, and defused so a spreadsheet never runs it as a formula. */
function csvField(value: string | number | bigint | null | undefined): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

function csvLine(event: AuditEventWithUser): string {
  const fields = [
    event.id,
    event.at.toISOString(),
    event.type,
    event.outcome,
    event.user?.email ?? event.userId,
    event.ip,
    event.userAgent,
    event.detail ? JSON.stringify(event.detail) : '',
  ];
  return `${fields.map(csvField).join(',')}\r\n`;
}

export function adminService(deps: {
  repository: AdminRepository;
  accounts: AccountsService;
  factors: FactorsService;
  audit: AuditLog;
  inTransaction: InTransaction;
  /** The phone code sender the delivery test bench tries out. */
  sender: CodeSender;
  codeLimits: CodeLimits;
  now?: () => Date;
}) {
  const { repository, accounts, factors, audit, inTransaction, sender, codeLimits } = deps;
  const now = deps.now ?? (() => new Date());

  /** What each action does to its user inside the action's transaction; false when the user is gone. */
  const CHANGES: Record<
    UserAction,
    (targetId: string, tx: DatabaseClient, at: Date, context: RequestContext) => Promise<boolean>
  > = {
    'reset-2fa': async (targetId, tx, _at, context) => {
      if (!(await accounts.findUser(targetId, tx))) return false;
      await factors.removeAllIn(tx, targetId, context);
      return true;
    },
    lock: (targetId, tx, at) => accounts.lock(targetId, at, tx),
    unlock: (targetId, tx) => accounts.unlock(targetId, tx),
    'sign-out-everywhere': (targetId, tx) => accounts.endEverySession(targetId, tx),
    'make-admin': (targetId, tx) => accounts.setRole(targetId, 'ADMIN', tx),
    'remove-admin': (targetId, tx) => accounts.setRole(targetId, 'USER', tx),
  };

  /**
   * Inside the transaction `tx`: uses up the confirmation and applies the action to its user, if
   * its admin is still an active admin. The confirmation is used under the advisory lock of admin
   * changes (repository.ts), held until `tx` ends, so the admin's standing is read, and the change
   * made, one admin change at a time: two admins demoting or locking each other at the same moment
   * are serialised, and the second finds it is no longer an admin. As an admin never acts on their
   * own standing, an active admin always remains.
   */
  async function applyConfirmed(
    tx: DatabaseClient,
    confirmation: Confirmation & { action: UserAction },
    at: Date,
    context: RequestContext,
  ): Promise<ConfirmedChangeOutcome> {
    if (!(await repository.useConfirmation(tx, confirmation, at))) return 'not_confirmed';
    if (!(await accounts.isActiveAdmin(confirmation.adminId, tx))) return 'not_an_admin';
    return (await CHANGES[confirmation.action](confirmation.targetId, tx, at, context)) ? 'done' : 'no_such_user';
  }

  /** The trail's filter for the admin's: the email resolved to its account; undefined when no account has it (no event matches). */
  async function trailFilter(filter: AuditFilter): Promise<AuditEventFilter | undefined> {
    const { userEmail, ...rest } = filter;
    if (!userEmail) return rest;
    const user = await accounts.findByEmail(userEmail);
    return user ? { ...rest, userId: user.id } : undefined;
  }

  /** The events with their users' emails, read from accounts for the users of these events only. */
  async function withEmails(events: AuditEventRecord[]): Promise<AuditEventWithUser[]> {
    const emails = await accounts.emailsOf(events.flatMap((event) => (event.userId ? [event.userId] : [])));
    return events.map((event) => {
      const email = event.userId ? emails.get(event.userId) : undefined;
      return { ...event, user: email === undefined ? null : { email } };
    });
  }

  return {
    async overview() {
      const [users, withTwoFactor, byKind, trail] = await Promise.all([
        accounts.count(),
        factors.countUsersWithTwoFactor(),
        factors.countUsersByKind(),
        audit.figures(now()),
      ]);
      return { users, withTwoFactor, byKind, ...trail };
    },

    /** One page of the users whose email contains `query`, with whether each has 2FA on, and their factors. */
    async users(query: string, page: number): Promise<{ total: number; users: ListedUser[] }> {
      const found = await accounts.search(query, { number: page, size: PAGE_SIZE });
      const byUser = await factors.listForUsers(found.users.map((user) => user.id));
      return {
        total: found.total,
        users: found.users.map((user) => {
          const own = byUser.get(user.id) ?? [];
          return {
            ...user,
            twoFactor: factors.isTwoFactorOn(own),
            factors: own.map(({ kind, phoneNumber, lastUsedAt }) => ({ kind, phoneNumber, lastUsedAt })),
          };
        }),
      };
    },

    findUser: (id: string): Promise<User | null> => accounts.findUser(id),

    recordDenied(userId: string | undefined, context: RequestContext, path: string): Promise<void> {
      return audit.record({ type: 'admin_denied', outcome: 'refused', userId, context, detail: { path } });
    },

    /** A single-use confirmation for this admin, in this session, to do `action` to `targetId`. */
    async confirmation(adminId: string, targetId: string, action: UserAction, sessionId: string): Promise<string> {
      const token = randomBytes(32).toString('base64url');
      const issuedAt = now();
      const confirmation: Confirmation = {
        tokenHash: sha256(token),
        adminId,
        sessionHash: sha256(sessionId),
        action,
        targetId,
      };
      await repository.saveConfirmation(
        confirmation,
        new Date(issuedAt.getTime() + CONFIRMATION_LIFETIME_MS),
        issuedAt,
      );
      return token;
    },

    async act(
      adminId: string,
      targetId: string,
      action: UserAction,
      confirmed: ActionConfirmation,
      context: RequestContext,
    ): Promise<ActionResult> {
      const refusedOnOwnAccount = targetId === adminId ? OWN_ACCOUNT_REFUSALS[action] : undefined;
      const at = now();
      const confirmation = {
        tokenHash: sha256(confirmed.token),
        adminId,
        sessionHash: sha256(confirmed.sessionId),
        action,
        targetId,
      };
      // The change, the use of its confirmation and its audit event land together, or none does.
      const outcome = await inTransaction(async (tx) => {
        const done = refusedOnOwnAccount ?? (await applyConfirmed(tx, confirmation, at, context));
        await audit.record(
          {
            type: 'admin_action',
            outcome: done === 'done' ? 'ok' : done,
            userId: adminId,
            context,
            detail: { action, target: targetId },
          },
          tx,
        );
        return done;
      });
      return outcome === 'done' ? { ok: true } : { ok: false, reason: outcome };
    },

    /** Sends a real code through the configured sender, on the channel the admin chose. */
    async benchSend(adminId: string, phone: string, channel: Channel, context: RequestContext): Promise<BenchResult> {
      let result: BenchResult;
      const keys = { user: adminId, phone, ip: context.ip };
      try {
        await codeLimits.reserveSend(keys);
        result = { ...(await sender.start(phone, channel)), channel };
        // A test the provider surely did not send does not count; a refused number does, and so
        // does a test that may have gone out.
        if ((result.status === 'unavailable' || result.status === 'channel_failed') && !mayHaveSent(result))
          await codeLimits.giveBackSend(keys);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        result = { status: 'rate_limited', retryAfterSeconds: error.retryAfterSeconds };
      }
      await audit.record({
        type: 'admin_verify',
        outcome: result.status,
        userId: adminId,
        context,
        detail: {
          operation: 'send',
          channel,
          phone: phoneHint(phone),
          ...(result.providerStatus ? { providerStatus: result.providerStatus } : {}),
          ...(result.errorCode ? { errorCode: result.errorCode } : {}),
        },
      });
      return result;
    },

    /** Checks a code against the verification the bench itself started, not any other for the number. */
    async benchCheck(
      adminId: string,
      sent: { phone: string; verificationSid: string },
      code: string,
      context: RequestContext,
    ): Promise<BenchResult> {
      const { phone, verificationSid } = sent;
      const result = await sender.check(verificationSid, code);
      await audit.record({
        type: 'admin_verify',
        outcome: result.status,
        userId: adminId,
        context,
        detail: {
          operation: 'check',
          phone: phoneHint(phone),
          ...(result.providerStatus ? { providerStatus: result.providerStatus } : {}),
          ...(result.errorCode ? { errorCode: result.errorCode } : {}),
        },
      });
      return result;
    },

    /** One page of the matching audit events, newest first, with their users' emails. */
    async auditPage(filter: AuditFilter, page: number): Promise<{ total: number; events: AuditEventWithUser[] }> {
      const matching = await trailFilter(filter);
      if (!matching) return { total: 0, events: [] };
      const found = await audit.page(matching, { number: page, size: PAGE_SIZE });
      return { total: found.total, events: await withEmails(found.events) };
    },

    /**
     * The matching audit events as CSV lines, header first. Resolves once the first batch is
     * read: a query that fails does so before anything is sent, and gets a proper error page.
     */
    async auditCsv(filter: AuditFilter): Promise<AsyncGenerator<string>> {
      const matching = await trailFilter(filter);
      const batches = matching ? audit.batches(matching) : undefined;
      const first = await batches?.next();
      const firstEvents = first && !first.done ? await withEmails(first.value) : [];
      return (async function* () {
        yield `${CSV_COLUMNS.join(',')}\r\n`;
        for (const event of firstEvents) yield csvLine(event);
        if (!batches || !firstEvents.length) return;
        for await (const batch of batches) for (const event of await withEmails(batch)) yield csvLine(event);
      })();
    },
  };
}

export type AdminService = ReturnType<typeof adminService>;
