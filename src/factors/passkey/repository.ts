// The only place that reads and writes `passkey_credentials`: the passkeys of a person's factor
// of kind passkey. Rows come and go with the factor's row (ON DELETE CASCADE).
import { selectList, type Database, type DatabaseClient, type PasskeyCredential } from '../../core/db/client.js';

export type { PasskeyCredential };

/** A passkey as the pages list it: what the person sees of it, never its key. */
export type ListedPasskey = Pick<PasskeyCredential, 'id' | 'name' | 'createdAt' | 'lastUsedAt'>;

/**
 * The pages' list, in plain SQL: the account page of a person with passkeys reads it on every
 * view.
 */
const READ_LISTED = `SELECT ${selectList({
  id: 'c.id',
  name: 'c.name',
  createdAt: 'c.created_at',
  lastUsedAt: 'c.last_used_at',
} satisfies Record<keyof ListedPasskey, string>)}
  FROM passkey_credentials c JOIN user_factors f ON f.id = c.factor_id
 WHERE f.user_id = $1 ORDER BY c.created_at ASC`;

export class CredentialTakenError extends Error {
  constructor() {
    super('This credential is registered already');
    this.name = 'CredentialTakenError';
  }
}

export function passkeysRepository({ prisma, read }: Pick<Database, 'prisma' | 'read'>) {
  return {
    /** The passkeys of a factor, the oldest first. */
    listForFactor(factorId: string, db: DatabaseClient = prisma): Promise<PasskeyCredential[]> {
      return db.passkeyCredential.findMany({ where: { factorId }, orderBy: { createdAt: 'asc' } });
    },

    /** Every passkey of the person as the pages list it, the oldest first. */
    listedForUser(userId: string): Promise<ListedPasskey[]> {
      return read<ListedPasskey>(READ_LISTED, [userId]);
    },

    /** Every passkey of the person, the oldest first. */
    listForUser(userId: string, db: DatabaseClient = prisma): Promise<PasskeyCredential[]> {
      return db.passkeyCredential.findMany({ where: { factor: { userId } }, orderBy: { createdAt: 'asc' } });
    },

    /** The passkey with this credential ID (they are unique), and whose it is. */
    async findByCredentialId(
      credentialId: string,
      db: DatabaseClient = prisma,
    ): Promise<(PasskeyCredential & { userId: string }) | undefined> {
      const found = await db.passkeyCredential.findUnique({
        where: { credentialId },
        include: { factor: { select: { userId: true } } },
      });
      if (!found) return undefined;
      const { factor, ...passkey } = found;
      return { ...passkey, userId: factor.userId };
    },

    /** Whether a credential ID is taken, by anyone. */
    async exists(credentialId: string, db: DatabaseClient = prisma): Promise<boolean> {
      return (await db.passkeyCredential.count({ where: { credentialId } })) > 0;
    },

    async add(
      data: {
        factorId: string;
        credentialId: string;
        publicKey: Uint8Array<ArrayBuffer>;
        counter: number;
        transports: string[];
        name: string;
      },
      db: DatabaseClient = prisma,
    ): Promise<PasskeyCredential> {
      try {
        return await db.passkeyCredential.create({ data: { ...data, counter: BigInt(data.counter) } });
      } catch (error) {
        // Another account registered the same credential meanwhile: the unique index decides.
        if ((error as { code?: string }).code === 'P2002') throw new CredentialTakenError();
        throw error;
      }
    },

    /**
     * Records a use: the counter moves to `counter` only if that is above the stored one (or both
     * are 0: an authenticator that keeps no counter), in one UPDATE, so of two answers with the
     * same counter one wins. Says whether this one did.
     */
    async recordUse(id: string, counter: number, at: Date, db: DatabaseClient = prisma): Promise<boolean> {
      const next = BigInt(counter);
      const { count } = await db.passkeyCredential.updateMany({
        where: { id, OR: counter === 0 ? [{ counter: 0n }] : [{ counter: { lt: next } }] },
        data: { counter: next, lastUsedAt: at },
      });
      return count === 1;
    },

    /** Removes one passkey of the factor; says whether it was there. */
    async remove(factorId: string, id: string, db: DatabaseClient = prisma): Promise<boolean> {
      const { count } = await db.passkeyCredential.deleteMany({ where: { id, factorId } });
      return count === 1;
    },
  };
}

export type PasskeysRepository = ReturnType<typeof passkeysRepository>;
