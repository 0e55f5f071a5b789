// The admin area's own table: the confirmations its confirmation pages issue, and their single
// use. Everything about users, factors and the audit trail goes through those features.
import { takeAdminChangesTurn } from '../accounts/index.js';
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';

/** What a confirmation page issued; hashes only, so a database reader cannot replay one. */
export interface Confirmation {
  tokenHash: string;
  adminId: string;
  sessionHash: string;
  action: string;
  targetId: string;
}

export function adminRepository(prisma: PrismaClient) {
  return {
    /** Keeps a confirmation until `expiresAt`, clearing out those already expired. */
    async saveConfirmation(confirmation: Confirmation, expiresAt: Date, now: Date): Promise<void> {
      await prisma.$transaction([
        prisma.adminConfirmation.deleteMany({ where: { expiresAt: { lte: now } } }),
        prisma.adminConfirmation.create({ data: { ...confirmation, expiresAt } }),
      ]);
    },

    /**
     * Inside the transaction `tx`: waits for the turn of admin changes, then uses up the
     * confirmation; says whether it was there, unused and in time. Admin changes run one at a
     * time under this transaction-scoped advisory lock, held until `tx` ends: two admins demoting
     * or locking each other at the same moment are serialised, and the second finds it is no
     * longer an admin.
     */
    async useConfirmation(tx: DatabaseClient, confirmation: Confirmation, now: Date): Promise<boolean> {
      await takeAdminChangesTurn(tx);
      // One DELETE: of several requests carrying the same confirmation, exactly one removes it.
      const used = await tx.adminConfirmation.deleteMany({ where: { ...confirmation, expiresAt: { gt: now } } });
      return used.count === 1;
    },
  };
}

export type AdminRepository = ReturnType<typeof adminRepository>;
