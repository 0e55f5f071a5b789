// The only place that reads and writes `phone_verifications`: for each number, the latest
// verification the JSON API sent it, the one its code is checked against.
import type { PrismaClient } from '../core/db/client.js';

export interface PendingVerification {
  phoneNumber: string;
  verificationSid: string;
  channel: string;
  sentAt: Date;
}

export function phoneVerificationsRepository(prisma: PrismaClient) {
  return {
    /** Records the latest verification sent to the number: the one its next code must match. */
    async record(pending: PendingVerification): Promise<void> {
      const { phoneNumber, ...rest } = pending;
      await prisma.phoneVerification.upsert({ where: { phoneNumber }, create: pending, update: rest });
    },

    find(phoneNumber: string): Promise<PendingVerification | null> {
      return prisma.phoneVerification.findUnique({ where: { phoneNumber } });
    },

    /**
     * Uses up the verification whose code was accepted: says whether this request did, so of
     * two requests bringing the same code at once, one gets the token.
     */
    async useUp(phoneNumber: string, verificationSid: string): Promise<boolean> {
      const { count } = await prisma.phoneVerification.deleteMany({ where: { phoneNumber, verificationSid } });
      return count === 1;
    },
  };
}

export type PhoneVerificationsRepository = ReturnType<typeof phoneVerificationsRepository>;
