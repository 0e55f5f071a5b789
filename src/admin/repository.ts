// The admin area's database access: figures, user search, confirmed changes to users (one at
// a time), the audit trail with filters.
import type { Prisma } from '../generated/prisma/client.js';
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';

export const PAGE_SIZE = 20;

/** What a confirmation page issued; hashes only, so a database reader cannot replay one. */
export interface Confirmation {
  tokenHash: string;
  adminId: string;
  sessionHash: string;
  action: string;
  targetId: string;
}

export type ConfirmedChangeOutcome = 'done' | 'not_confirmed' | 'not_an_admin' | 'no_such_user';

export interface AuditFilter {
  userEmail?: string;
  type?: string;
  from?: Date;
  to?: Date;
}

function auditWhere(filter: AuditFilter): Prisma.AuditEventWhereInput {
  return {
    ...(filter.userEmail ? { user: { email: filter.userEmail } } : {}),
    ...(filter.type ? { type: filter.type } : {}),
    ...(filter.from || filter.to ? { at: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lte: filter.to } : {}) } } : {}),
  };
}

export function adminRepository(prisma: PrismaClient) {
  return {
    async figures(now: Date) {
      const startOfDay = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      const hourAgo = new Date(now.getTime() - 3_600_000);
      const dayAgo = new Date(now.getTime() - 86_400_000);
      const [users, withTwoFactor, codesToday, failedSignIns, rateLimitHits] = await Promise.all([
        prisma.user.count(),
        prisma.user.count({ where: { twoFactorEnabledAt: { not: null } } }),
        // A code Twilio did not confirm may have gone out (and been paid for): counted apart.
        prisma.$queryRaw<Array<{ channel: string | null; outcome: string; count: bigint }>>`
          SELECT detail->>'channel' AS channel, outcome, count(*) AS count
          FROM audit_events
          WHERE type = 'code_sent' AND outcome IN ('ok', 'unconfirmed') AND at >= ${startOfDay}
          GROUP BY 1, 2`,
        prisma.auditEvent.count({ where: { type: 'sign_in_password', outcome: 'failed', at: { gte: hourAgo } } }),
        prisma.auditEvent.count({ where: { type: 'rate_limited', at: { gte: dayAgo } } }),
      ]);
      const count = (outcome: string, channel: string) =>
        codesToday.filter((row) => row.outcome === outcome && row.channel === channel).reduce((sum, row) => sum + Number(row.count), 0);
      return {
        users,
        withTwoFactor,
        codesToday: { sms: count('ok', 'sms'), call: count('ok', 'call') },
        codesUnconfirmedToday: { sms: count('unconfirmed', 'sms'), call: count('unconfirmed', 'call') },
        failedSignIns,
        rateLimitHits,
      };
    },

    async searchUsers(query: string, page: number) {
      const where: Prisma.UserWhereInput = query ? { email: { contains: query, mode: 'insensitive' } } : {};
      const [total, users] = await Promise.all([
        prisma.user.count({ where }),
        prisma.user.findMany({
          where,
          orderBy: { createdAt: 'desc' },
          skip: (page - 1) * PAGE_SIZE,
          take: PAGE_SIZE,
          select: { id: true, email: true, role: true, phoneNumber: true, twoFactorEnabledAt: true, lockedAt: true, createdAt: true },
        }),
      ]);
      return { total, users };
    },

    findUser(id: string) {
      return prisma.user.findUnique({ where: { id } });
    },

    findUserByEmail(email: string) {
      return prisma.user.findUnique({ where: { email } });
    },

    /** Keeps a confirmation until `expiresAt`, clearing out those already expired. */
    async saveConfirmation(confirmation: Confirmation, expiresAt: Date, now: Date): Promise<void> {
      await prisma.$transaction([
        prisma.adminConfirmation.deleteMany({ where: { expiresAt: { lte: now } } }),
        prisma.adminConfirmation.create({ data: { ...confirmation, expiresAt } }),
      ]);
    },

    /**
     * Inside the transaction `tx`: uses up the confirmation and applies `change` to its user, if
     * its admin is still an active admin. Admin changes run one at a time under a transaction-
     * scoped advisory lock: two admins demoting or locking each other at the same moment are
     * serialised, and the second finds it is no longer an admin. As an admin never acts on their
     * own standing, an active admin always remains.
     */
    async applyConfirmed(tx: DatabaseClient, confirmation: Confirmation, now: Date, change: Prisma.UserUpdateManyMutationInput): Promise<ConfirmedChangeOutcome> {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('admin changes'))`;
      // One DELETE: of several requests carrying the same confirmation, exactly one removes it.
      const used = await tx.adminConfirmation.deleteMany({ where: { ...confirmation, expiresAt: { gt: now } } });
      if (used.count !== 1) return 'not_confirmed';
      const actor = await tx.user.findUnique({ where: { id: confirmation.adminId }, select: { role: true, lockedAt: true } });
      if (actor?.role !== 'ADMIN' || actor.lockedAt) return 'not_an_admin';
      const changed = await tx.user.updateMany({ where: { id: confirmation.targetId }, data: change });
      return changed.count === 1 ? 'done' : 'no_such_user';
    },

    async auditPage(filter: AuditFilter, page: number) {
      const where = auditWhere(filter);
      const [total, events] = await Promise.all([
        prisma.auditEvent.count({ where }),
        prisma.auditEvent.findMany({
          where,
          orderBy: { id: 'desc' },
          skip: (page - 1) * PAGE_SIZE,
          take: PAGE_SIZE,
          include: { user: { select: { email: true } } },
        }),
      ]);
      return { total, events };
    },

    /** Every matching event, oldest first, in batches, for the CSV export. */
    async *auditAll(filter: AuditFilter) {
      const where = auditWhere(filter);
      let after: bigint | undefined;
      for (;;) {
        const batch = await prisma.auditEvent.findMany({
          where: after === undefined ? where : { AND: [where, { id: { gt: after } }] },
          orderBy: { id: 'asc' },
          take: 500,
          include: { user: { select: { email: true } } },
        });
        if (!batch.length) return;
        yield* batch;
        after = batch.at(-1)!.id;
      }
    },
  };
}

export type AdminRepository = ReturnType<typeof adminRepository>;
