// The only place that reads and writes `user_factors`. A row exists only once its factor was
// verified, so "two-factor authentication is on" is "the person has a row".
import type { DatabaseClient, PrismaClient, UserFactor } from '../core/db/client.js';

export type { UserFactor };

export function factorsRepository(prisma: PrismaClient) {
  return {
    /** The person's factors, the one they used last first (then the oldest). */
    listForUser(userId: string, db: DatabaseClient = prisma): Promise<UserFactor[]> {
      return db.userFactor.findMany({
        where: { userId },
        orderBy: [{ lastUsedAt: { sort: 'desc', nulls: 'last' } }, { createdAt: 'asc' }],
      });
    },

    /**
     * Serialises changes to one person's factors: within the transaction `db`, every other
     * change to them waits, so two parallel enrolments cannot both add "the" phone.
     */
    async lockUser(userId: string, db: DatabaseClient): Promise<void> {
      await db.$queryRaw`SELECT 1 FROM users WHERE id = ${userId}::uuid FOR UPDATE`;
    },

    add(
      data: {
        userId: string;
        kind: string;
        label?: string | null;
        phoneNumber?: string | null;
        totpSecret?: string | null;
        totpLastStep?: number | null;
        twilioEntity?: string | null;
        twilioFactorSid?: string | null;
        totpLastCode?: string | null;
      },
      db: DatabaseClient = prisma,
    ): Promise<UserFactor> {
      return db.userFactor.create({ data });
    },

    async update(
      id: string,
      data: { label?: string | null; phoneNumber?: string | null; totpSecret?: string | null },
      db: DatabaseClient = prisma,
    ): Promise<void> {
      await db.userFactor.update({ where: { id }, data });
    },

    /**
     * Moves an authenticator app's mark of the last code accepted (its time step, and for Twilio
     * a hash of the code) from `from` to `to`, only if it is still `from`: of two requests with
     * the same code, one wins. Says whether this one did.
     */
    async advanceTotpStep(
      id: string,
      from: { step: number | null; code: string | null },
      to: { step: number; code: string | null },
      db: DatabaseClient = prisma,
    ): Promise<boolean> {
      const { count } = await db.userFactor.updateMany({
        where: { id, kind: 'totp', totpLastStep: from.step, totpLastCode: from.code },
        data: { totpLastStep: to.step, totpLastCode: to.code },
      });
      return count === 1;
    },

    async markUsed(id: string, at: Date, db: DatabaseClient = prisma): Promise<void> {
      // updateMany: a factor removed meanwhile is simply not there to mark.
      await db.userFactor.updateMany({ where: { id }, data: { lastUsedAt: at } });
    },

    /** Removes one factor of the person; says whether it was there. */
    async remove(userId: string, id: string, db: DatabaseClient = prisma): Promise<boolean> {
      const { count } = await db.userFactor.deleteMany({ where: { id, userId } });
      return count === 1;
    },

    /** Removes every factor of the person; says how many there were. */
    async removeAll(userId: string, db: DatabaseClient = prisma): Promise<number> {
      const { count } = await db.userFactor.deleteMany({ where: { userId } });
      return count;
    },

    /** How many people have at least one factor. */
    countUsersWithFactors(): Promise<number> {
      return prisma.user.count({ where: { factors: { some: {} } } });
    },

    /** Which of these people have at least one factor. */
    async usersWithFactors(userIds: string[]): Promise<Set<string>> {
      const rows = await prisma.userFactor.findMany({
        where: { userId: { in: userIds } },
        select: { userId: true },
        distinct: ['userId'],
      });
      return new Set(rows.map((row) => row.userId));
    },

    /** The phone of each of these people who has a phone factor (the one used last, when several). */
    async phonesOf(userIds: string[]): Promise<Map<string, string>> {
      const rows = await prisma.userFactor.findMany({
        where: { userId: { in: userIds }, kind: 'phone', phoneNumber: { not: null } },
        orderBy: [{ lastUsedAt: { sort: 'desc', nulls: 'last' } }, { createdAt: 'asc' }],
        select: { userId: true, phoneNumber: true },
      });
      const phones = new Map<string, string>();
      for (const row of rows) if (!phones.has(row.userId)) phones.set(row.userId, row.phoneNumber!);
      return phones;
    },
  };
}

export type FactorsRepository = ReturnType<typeof factorsRepository>;
