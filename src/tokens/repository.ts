// The only place that reads and writes `revoked_tokens`: access tokens revoked before they expire.
import type { Database } from '../core/db/client.js';

export function tokensRepository({ prisma, read, write }: Pick<Database, 'prisma' | 'read' | 'write'>) {
  return {
    /** Revokes `jti` until `expiresAt`; says whether this did it (a second revocation changes nothing). */
    async revoke(jti: string, expiresAt: Date): Promise<boolean> {
      const written = await write(
        'INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING',
        [jti, expiresAt],
      );
      return written === 1;
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
