// The only place that reads and writes `recovery_codes`: the codes of each set (a factor row
// of kind recovery_codes, which the factors repository keeps). Only hashes are stored.
import type { DatabaseClient, PrismaClient } from '../../core/db/client.js';

export function recoveryCodesRepository(prisma: PrismaClient) {
  return {
    async addAll(factorId: string, codeHashes: string[], db: DatabaseClient = prisma): Promise<void> {
      await db.recoveryCode.createMany({ data: codeHashes.map((codeHash) => ({ factorId, codeHash })) });
    },

    /**
     * Uses the code with this hash, once: one UPDATE ... WHERE used_at IS NULL, so of parallel
     * uses of one code exactly one sees it unused and wins. Says whether this one did.
     */
    async use(factorId: string, codeHash: string, at: Date, db: DatabaseClient = prisma): Promise<boolean> {
      const { count } = await db.recoveryCode.updateMany({
        where: { factorId, codeHash, usedAt: null },
        data: { usedAt: at },
      });
      return count === 1;
    },

    /** Whether the set has a code with this hash, used or not. */
    async has(factorId: string, codeHash: string, db: DatabaseClient = prisma): Promise<boolean> {
      return (await db.recoveryCode.count({ where: { factorId, codeHash } })) > 0;
    },

    /** How many of the set's codes are left (unused), and how many it had. */
    async counts(factorId: string, db: DatabaseClient = prisma): Promise<{ left: number; total: number }> {
      // One after the other: inside a transaction, `db` is a single connection.
      const left = await db.recoveryCode.count({ where: { factorId, usedAt: null } });
      const total = await db.recoveryCode.count({ where: { factorId } });
      return { left, total };
    },
  };
}

export type RecoveryCodesRepository = ReturnType<typeof recoveryCodesRepository>;
