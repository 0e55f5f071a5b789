// The only place the accounts feature talks to the database.
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';
import type { Prisma, User } from '../generated/prisma/client.js';

export type { User };

/**
 * The update that ends every session of a user at once: sessions hold the generation of their
 * sign-in, and one older than the user's is signed out (src/accounts/passport.ts). One atomic
 * `SET session_generation = session_generation + 1`, so no sign-in racing it can slip past.
 */
export const END_EVERY_SESSION = { sessionGeneration: { increment: 1 } } satisfies Prisma.UserUpdateInput;

export class EmailTakenError extends Error {
  constructor() {
    super('An account with this email already exists');
    this.name = 'EmailTakenError';
  }
}

export function accountsRepository(prisma: PrismaClient) {
  return {
    findByEmail(email: string): Promise<User | null> {
      return prisma.user.findUnique({ where: { email } });
    },

    findById(id: string): Promise<User | null> {
      return prisma.user.findUnique({ where: { id } });
    },

    async create(data: { email: string; passwordHash: string }, db: DatabaseClient = prisma): Promise<User> {
      try {
        return await db.user.create({ data });
      } catch (error) {
        // The unique index decides, so two sign-ups racing for one email cannot both win.
        if ((error as { code?: string }).code === 'P2002') throw new EmailTakenError();
        throw error;
      }
    },

    async endEverySession(id: string, db: DatabaseClient = prisma): Promise<void> {
      await db.user.update({ where: { id }, data: END_EVERY_SESSION });
    },

    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      await prisma.user.update({ where: { id }, data: { passwordHash } });
    },
  };
}

export type AccountsRepository = ReturnType<typeof accountsRepository>;
