// The only place that reads and writes `revoked_tokens`: access tokens revoked before they expire.
import type { Database } from '../core/db/client.js';

export function tokensRepository({ prisma, read }: Pick<Database, 'prisma' | 'read'>) {
  return {
    /** Revokes `jti` until `expiresAt` (a second revocation changes nothing). */
    async revoke(jti: string, expiresAt: Date): Promise<void> {
      await prisma.revokedToken.upsert({ where: { jti }, create: { jti, expiresAt }, update: {} });
    },

    /** Plain SQL: every request with an access token asks (see PlainRead). */
    async isRevoked(jti: string): Promise<boolean> {
      return (await read('SELECT 1 FROM revoked_tokens WHERE jti = $1', [jti])).length > 0;
    },

    /** Forgets revocations of tokens that have expired anyway. */
    async forgetExpired(now: Date): Promise<void> {
      await prisma.revokedToken.deleteMany({ where: { expiresAt: { lt: now } } });
    },
  };
}

export type TokensRepository = ReturnType<typeof tokensRepository>;
