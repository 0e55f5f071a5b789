// The only place that reads and writes `revoked_tokens`: access tokens revoked before they expire.
import type { PrismaClient } from '../core/db/client.js';

export function tokensRepository(prisma: PrismaClient) {
  return {
    /** Revokes `jti` until `expiresAt` (a second revocation changes nothing). */
    async revoke(jti: string, expiresAt: Date): Promise<void> {
      await prisma.revokedToken.upsert({ where: { jti }, create: { jti, expiresAt }, update: {} });
    },

    async isRevoked(jti: string): Promise<boolean> {
      return (await prisma.revokedToken.count({ where: { jti } })) > 0;
    },

    /** Forgets revocations of tokens that have expired anyway. */
    async forgetExpired(now: Date): Promise<void> {
      await prisma.revokedToken.deleteMany({ where: { expiresAt: { lt: now } } });
    },
  };
}

export type TokensRepository = ReturnType<typeof tokensRepository>;
