// The security audit trail. Every sign-in, code and 2FA change is written here with time,
// user (when known), IP, browser and outcome. Callers pass only non-secret detail: a channel,
// a reason, a phone hint such as +33…78. Never a code, a password or a full phone number.
// This module is the only one that reads and writes `audit_events`; events name their user by
// id, and whoever shows them asks accounts for the email.
import { createHmac } from 'node:crypto';
import type { Database, DatabaseClient, Prisma } from '../core/db/client.js';
import { validIp } from '../core/ip.js';
import type { AuditType } from './events.js';

export type { AuditType };

/** Where a request came from, without anything of HTTP. */
export interface RequestContext {
  ip: string | undefined;
  userAgent: string | undefined;
}

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
  /** How a sign-in was made (password_and_code, ...); null for a failed attempt. */
  method: string | null;
  ip: string | null;
  userAgent: string | null;
}

/** Which events a search of the trail matches; every condition given must hold. */
export interface AuditEventFilter {
  userId?: string;
  type?: AuditType;
  from?: Date;
  to?: Date;
}

/** One event of the trail as a search finds it. */
export interface AuditEventRecord {
  id: bigint;
  at: Date;
  type: string;
  outcome: string;
  userId: string | null;
  ip: string | null;
  userAgent: string | null;
  detail: Prisma.JsonValue;
}

const RECORD_FIELDS = {
  id: true,
  at: true,
  type: true,
  outcome: true,
  userId: true,
  ip: true,
  userAgent: true,
  detail: true,
} as const;

/** How many events the CSV export reads at a time. */
const EXPORT_BATCH = 500;

function filterWhere(filter: AuditEventFilter): Prisma.AuditEventWhereInput {
  return {
    ...(filter.userId ? { userId: filter.userId } : {}),
    ...(filter.type ? { type: filter.type } : {}),
    ...(filter.from || filter.to
      ? { at: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lte: filter.to } : {}) } }
      : {}),
  };
}

const MAX_USER_AGENT = 256;

// An event outside a transaction; the time is the app's clock, as it is through Prisma. An
// account deleted meanwhile (its token revoked after, a grant racing the deletion) leaves the
// event without a user, not a failed request: its trail went under a pseudonym with it.
const RECORD_EVENT = `INSERT INTO audit_events (at, type, outcome, user_id, ip, user_agent, detail)
  VALUES ($1, $2, $3, (SELECT id FROM users WHERE id = $4::uuid), $5, $6, $7::jsonb)`;

const SIGN_IN_ATTEMPTS: Record<string, SignInAttempt> = {
  sign_in: 'signed_in',
  sign_in_password: 'wrong_password',
  code_checked: 'wrong_code',
};

/** What stands for an account's email in the detail of its events once the account is deleted. */
export const DELETED_EMAIL = '[deleted]';

type Detail = Prisma.JsonValue;

/** `detail` with every string naming `userId` naming `pseudonym` instead, and any holding `email` emptied. */
function scrubbed(detail: Detail, userId: string, email: string, pseudonym: string): Detail {
  if (typeof detail === 'string') {
    if (detail.toLowerCase().includes(email)) return DELETED_EMAIL;
    return detail.split(userId).join(pseudonym);
  }
  if (Array.isArray(detail)) return detail.map((item) => scrubbed(item, userId, email, pseudonym));
  if (detail && typeof detail === 'object')
    return Object.fromEntries(
      Object.entries(detail).map(([key, value]) => [key, scrubbed(value ?? null, userId, email, pseudonym)]),
    );
  return detail;
}

/**
 * `counted` is told of every event written (metrics count sign-ins, codes, refusals from them).
 * `pseudonymKey` keys the HMAC that names a deleted account's events (a server secret, so a
 * pseudonym cannot be worked out from a user id alone). `followed` runs inside the event's
 * transaction (security notices queue their mail there).
 */
export function auditLog(
  { prisma, read, write }: Pick<Database, 'prisma' | 'read' | 'write'>,
  counted: (entry: AuditEntry) => void = () => {},
  pseudonymKey: string = 'audit pseudonyms',
  followed: (entry: AuditEntry, db: DatabaseClient) => Promise<void> = () => Promise.resolve(),
) {
  /** The pseudonym of a deleted account: the same for all its events, not reversible. */
  const pseudonymOf = (userId: string) =>
    `deleted:${createHmac('sha256', pseudonymKey).update(`audit pseudonym ${userId}`).digest('base64url').slice(0, 22)}`;

  return {
    /**
     * Inside the deletion's transaction `tx`: the account's events keep what happened but no
     * longer name it: their user id gives way to its pseudonym (`user_pseudonym`), and in the
     * detail of any event (an admin's action on it, say) its id becomes the pseudonym and any
     * string holding its email is emptied. Returns the pseudonym.
     */
    async forgetUser(userId: string, email: string, tx: DatabaseClient): Promise<string> {
      const pseudonym = pseudonymOf(userId);
      const lowerEmail = email.toLowerCase();
      const named = await tx.$queryRaw<Array<{ id: bigint; detail: Detail }>>`
        SELECT id, detail FROM audit_events
        WHERE detail IS NOT NULL
          AND (strpos(detail::text, ${userId}) > 0 OR strpos(lower(detail::text), ${lowerEmail}) > 0)`;
      for (const row of named)
        await tx.auditEvent.update({
          where: { id: row.id },
          data: { detail: scrubbed(row.detail, userId, lowerEmail, pseudonym) as Prisma.InputJsonValue },
        });
      await tx.auditEvent.updateMany({ where: { userId }, data: { userId: null, userPseudonym: pseudonym } });
      return pseudonym;
    },

    /** Writes the event; pass the transaction of the change it records, so both land or neither. */
    async record(entry: AuditEntry, db: DatabaseClient = prisma): Promise<void> {
      const event = {
        at: new Date(),
        type: entry.type,
        outcome: entry.outcome,
        userId: entry.userId ?? null,
        ip: validIp(entry.context.ip),
        userAgent: entry.context.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
      };
      // Outside a transaction, in plain SQL: every sign-in and code check writes events.
      if (db === prisma)
        await write(RECORD_EVENT, [
          event.at,
          event.type,
          event.outcome,
          event.userId,
          event.ip,
          event.userAgent,
          entry.detail ? JSON.stringify(entry.detail) : null,
        ]);
      else await db.auditEvent.create({ data: { ...event, ...(entry.detail ? { detail: entry.detail } : {}) } });
      await followed(entry, db);
      counted(entry);
    },

    /** How many sign-ins of the account since `since` came from the browser `browser` (its id's hash), this one's included. */
    signInsFromBrowser(userId: string, browser: string, since: Date, db: DatabaseClient = prisma): Promise<number> {
      return db.auditEvent.count({
        where: {
          userId,
          type: 'sign_in',
          outcome: 'ok',
          at: { gt: since },
          detail: { path: ['browser'], equals: browser },
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
      // Plain SQL: the account page asks this on every view (see PlainRead).
      const events = await read<{
        at: Date;
        type: string;
        method: string | null;
        ip: string | null;
        userAgent: string | null;
      }>(
        `SELECT at, type, CASE WHEN type = 'sign_in' THEN detail->>'method' END AS method, ip, user_agent AS "userAgent"
         FROM audit_events
         WHERE user_id = $1
           AND ((type = 'sign_in' AND outcome = 'ok')
             OR (type = 'sign_in_password' AND outcome = 'failed')
             OR (type = 'code_checked' AND outcome = 'wrong_code' AND detail->>'purpose' = 'sign_in'))
         ORDER BY at DESC LIMIT $2`,
        [userId, limit],
      );
      return events.map(({ type, ...event }) => ({ ...event, attempt: SIGN_IN_ATTEMPTS[type]! }));
    },

    /** One page of the matching events, newest first, and how many match in all. */
    async page(
      filter: AuditEventFilter,
      page: { number: number; size: number },
    ): Promise<{ total: number; events: AuditEventRecord[] }> {
      const where = filterWhere(filter);
      const [total, events] = await Promise.all([
        prisma.auditEvent.count({ where }),
        prisma.auditEvent.findMany({
          where,
          orderBy: { id: 'desc' },
          skip: (page.number - 1) * page.size,
          take: page.size,
          select: RECORD_FIELDS,
        }),
      ]);
      return { total, events };
    },

    /** Every matching event, oldest first, a batch at a time (for the CSV export). */
    async *batches(filter: AuditEventFilter): AsyncGenerator<AuditEventRecord[]> {
      const where = filterWhere(filter);
      let after: bigint | undefined;
      for (;;) {
        const batch = await prisma.auditEvent.findMany({
          where: after === undefined ? where : { AND: [where, { id: { gt: after } }] },
          orderBy: { id: 'asc' },
          take: EXPORT_BATCH,
          select: RECORD_FIELDS,
        });
        if (!batch.length) return;
        yield batch;
        after = batch.at(-1)!.id;
      }
    },

    /** What the trail says about the recent past, for the admin overview. */
    async figures(now: Date) {
      const startOfDay = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      const hourAgo = new Date(now.getTime() - 3_600_000);
      const dayAgo = new Date(now.getTime() - 86_400_000);
      const monthAgo = new Date(now.getTime() - 30 * 86_400_000);
      const [codesToday, failedSignIns, rateLimitHits, passkeyCounterRegressions] = await Promise.all([
        // A code Twilio did not confirm may have gone out (and been paid for): counted apart.
        prisma.$queryRaw<Array<{ channel: string | null; outcome: string; count: bigint }>>`
          SELECT detail->>'channel' AS channel, outcome, count(*) AS count
          FROM audit_events
          WHERE type = 'code_sent' AND outcome IN ('ok', 'unconfirmed') AND at >= ${startOfDay}
          GROUP BY 1, 2`,
        prisma.auditEvent.count({ where: { type: 'sign_in_password', outcome: 'failed', at: { gte: hourAgo } } }),
        prisma.auditEvent.count({ where: { type: 'rate_limited', at: { gte: dayAgo } } }),
        // A real passkey's signature with a counter that went backwards: likely a copied authenticator.
        prisma.auditEvent.count({ where: { type: 'passkey_counter_regressed', at: { gte: monthAgo } } }),
      ]);
      const count = (outcome: string, channel: string) =>
        codesToday
          .filter((row) => row.outcome === outcome && row.channel === channel)
          .reduce((sum, row) => sum + Number(row.count), 0);
      return {
        codesToday: { sms: count('ok', 'sms'), call: count('ok', 'call') },
        codesUnconfirmedToday: { sms: count('unconfirmed', 'sms'), call: count('unconfirmed', 'call') },
        failedSignIns,
        rateLimitHits,
        passkeyCounterRegressions,
      };
    },
  };
}

export type AuditLog = ReturnType<typeof auditLog>;

/** The context of an incoming request (any object with Express's `ip` and headers). */
export function contextOf(req: {
  ip?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}): RequestContext {
  const userAgent = req.headers['user-agent'];
  return { ip: req.ip, userAgent: typeof userAgent === 'string' ? userAgent : undefined };
}
