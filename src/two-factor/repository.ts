// The only place the two-factor feature writes to the database.
import type { PrismaClient } from '../core/db/client.js';

export function twoFactorRepository(prisma: PrismaClient) {
  return {
    /** Turns 2FA on with a phone whose code was just checked (or moves it to a new one). */
    async enable(userId: string, phoneNumber: string): Promise<void> {
      const user = await prisma.user.findUniqueOrThrow({ where: { id: userId }, select: { twoFactorEnabledAt: true } });
      await prisma.user.update({
        where: { id: userId },
        data: { phoneNumber, twoFactorEnabledAt: user.twoFactorEnabledAt ?? new Date() },
      });
    },

    async disable(userId: string): Promise<void> {
      await prisma.user.update({ where: { id: userId }, data: { phoneNumber: null, twoFactorEnabledAt: null } });
    },
  };
}

export type TwoFactorRepository = ReturnType<typeof twoFactorRepository>;
