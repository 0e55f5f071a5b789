// The only place that reads and writes `recovery_codes`: the codes of each set (a factor row
// of kind recovery_codes, which the factors repository keeps). Only hashes are stored.
import type { Database, DatabaseClient } from '../../core/db/client.js';

/** How many of a set's codes are left (unused), and how many it had: one statement. */
const COUNT_CODES = `SELECT count(*) FILTER (WHERE used_at IS NULL)::int AS "left", count(*)::int AS "total"
  FROM recovery_codes WHERE factor_id = $1::uuid`;

export function recoveryCodesRepository({ prisma, read }: Pick<Database, 'prisma' | 'read'>) {
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

    /**
     * How many of the set's codes are left (unused), and how many it had. Outside a transaction
     * in plain SQL: the account page of a person with 2FA reads it on every view.
     */
    async counts(factorId: string, db?: DatabaseClient): Promise<{ left: number; total: number }> {
      type Counts = { left: number; total: number };
      const [counts] = db
        ? await db.$queryRawUnsafe<Counts[]>(COUNT_CODES, factorId)
        : await read<Counts>(COUNT_CODES, [factorId]);
      return counts!;
    },
  };
}

export type RecoveryCodesRepository = ReturnType<typeof recoveryCodesRepository>;
