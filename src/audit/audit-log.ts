// The security audit trail. Every sign-in, code and 2FA change is written here with time,
// user (when known), IP, browser and outcome. Callers pass only non-secret detail: a channel,
// a reason, a phone hint such as +33…78. Never a code, a password or a full phone number.
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';
import { validIp } from '../core/ip.js';

/** Where a request came from, without anything of HTTP. */
export interface RequestContext {
  ip: string | undefined;
  userAgent: string | undefined;
}

export type AuditType =
  | 'sign_up'
  | 'sign_in_password'
  | 'sign_in'
  | 'sign_out'
  | 'password_confirmation'
  | 'code_sent'
  | 'code_checked'
  | 'two_factor_enabled'
  | 'two_factor_disabled'
  | 'phone_changed'
  | 'rate_limited'
  | 'admin_denied'
  | 'admin_action'
  | 'admin_verify';

export interface AuditEntry {
  type: AuditType;
  outcome: string;
  userId?: string | null;
  context: RequestContext;
  detail?: Record<string, string | number | boolean>;
}

/** A sign-in, or a failed attempt that only someone signing in makes. */
export type SignInAttempt = 'signed_in' | 'wrong_password' | 'wrong_code';

export interface SignInActivity {
  at: Date;
  attempt: SignInAttempt;
  ip: string | null;
  userAgent: string | null;
}

const MAX_USER_AGENT = 256;

const SIGN_IN_ATTEMPTS: Record<string, SignInAttempt> = {
  sign_in: 'signed_in',
  sign_in_password: 'wrong_password',
  code_checked: 'wrong_code',
};

export function auditLog(prisma: PrismaClient) {
  return {
    /** Writes the event; pass the transaction of the change it records, so both land or neither. */
    async record(entry: AuditEntry, db: DatabaseClient = prisma): Promise<void> {
      await db.auditEvent.create({
        data: {
          type: entry.type,
          outcome: entry.outcome,
          userId: entry.userId ?? null,
          ip: validIp(entry.context.ip),
          userAgent: entry.context.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
          ...(entry.detail ? { detail: entry.detail } : {}),
        },
      });
    },

    /**
     * The person's recent sign-ins and failed sign-in attempts, newest first. A wrong code while
     * turning 2FA on or changing the phone is the signed-in person mistyping, not an attempt on
     * the account, and a code the provider could not judge (expired, malformed, provider down)
     * says nothing about who typed it: neither counts.
     */
    async recentSignIns(userId: string, limit = 10): Promise<SignInActivity[]> {
      const events = await prisma.auditEvent.findMany({
        where: {
          userId,
          OR: [
            { type: 'sign_in', outcome: 'ok' },
            { type: 'sign_in_password', outcome: 'failed' },
            { type: 'code_checked', outcome: 'wrong_code', detail: { path: ['purpose'], equals: 'sign_in' } },
          ],
        },
        orderBy: { at: 'desc' },
        take: limit,
        select: { at: true, type: true, ip: true, userAgent: true },
      });
      return events.map(({ type, ...event }) => ({ ...event, attempt: SIGN_IN_ATTEMPTS[type]! }));
    },
  };
}

export type AuditLog = ReturnType<typeof auditLog>;

/** The context of an incoming request (any object with Express's `ip` and headers). */
export function contextOf(req: { ip?: string | undefined; headers: Record<string, string | string[] | undefined> }): RequestContext {
  const userAgent = req.headers['user-agent'];
  return { ip: req.ip, userAgent: typeof userAgent === 'string' ? userAgent : undefined };
}
