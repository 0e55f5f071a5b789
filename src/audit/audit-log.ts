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

export interface SignInActivity {
  at: Date;
  outcome: string;
  ip: string | null;
  userAgent: string | null;
}

const MAX_USER_AGENT = 256;

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

    /** The person's recent successful and failed sign-ins, newest first. */
    recentSignIns(userId: string, limit = 10): Promise<SignInActivity[]> {
      return prisma.auditEvent.findMany({
        where: {
          userId,
          OR: [{ type: 'sign_in', outcome: 'ok' }, { type: 'sign_in_password', outcome: 'failed' }, { type: 'code_checked', NOT: { outcome: 'ok' } }],
        },
        orderBy: { at: 'desc' },
        take: limit,
        select: { at: true, outcome: true, ip: true, userAgent: true },
      });
    },
  };
}

export type AuditLog = ReturnType<typeof auditLog>;

/** The context of an incoming request (any object with Express's `ip` and headers). */
export function contextOf(req: { ip?: string | undefined; headers: Record<string, string | string[] | undefined> }): RequestContext {
  const userAgent = req.headers['user-agent'];
  return { ip: req.ip, userAgent: typeof userAgent === 'string' ? userAgent : undefined };
}
