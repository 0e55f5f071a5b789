// The only place the two-factor feature writes to the database.
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';

export function twoFactorRepository(prisma: PrismaClient) {
  return {
    /**
     * Turns 2FA on with a phone whose code was just checked (or moves it to a new one); says
     * whether it was on already.
     */
    async enable(userId: string, phoneNumber: string, db: DatabaseClient = prisma): Promise<{ wasEnabled: boolean }> {
      const user = await db.user.findUniqueOrThrow({ where: { id: userId }, select: { twoFactorEnabledAt: true } });
      await db.user.update({
        where: { id: userId },
        data: { phoneNumber, twoFactorEnabledAt: user.twoFactorEnabledAt ?? new Date() },
      });
      return { wasEnabled: user.twoFactorEnabledAt !== null };
    },

    async disable(userId: string, db: DatabaseClient = prisma): Promise<void> {
      await db.user.update({ where: { id: userId }, data: { phoneNumber: null, twoFactorEnabledAt: null } });
    },
  };
}

export type TwoFactorRepository = ReturnType<typeof twoFactorRepository>;
