// The admin area's database access: figures, user search, role and lock changes, the audit
// trail with filters.
import type { Prisma } from '../generated/prisma/client.js';
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';

export const PAGE_SIZE = 20;

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
        prisma.$queryRaw<Array<{ channel: string | null; count: bigint }>>`
          SELECT detail->>'channel' AS channel, count(*) AS count
          FROM audit_events
          WHERE type = 'code_sent' AND outcome = 'ok' AND at >= ${startOfDay}
          GROUP BY 1`,
        prisma.auditEvent.count({ where: { type: 'sign_in_password', outcome: 'failed', at: { gte: hourAgo } } }),
        prisma.auditEvent.count({ where: { type: 'rate_limited', at: { gte: dayAgo } } }),
      ]);
      const byChannel = Object.fromEntries(codesToday.map((row) => [row.channel ?? 'unknown', Number(row.count)]));
      return { users, withTwoFactor, codesToday: { sms: byChannel.sms ?? 0, call: byChannel.call ?? 0 }, failedSignIns, rateLimitHits };
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

    async update(id: string, data: Prisma.UserUpdateInput, db: DatabaseClient = prisma): Promise<void> {
      await db.user.update({ where: { id }, data });
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
