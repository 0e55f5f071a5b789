// The only place the accounts feature talks to the database.
import type { PrismaClient } from '../core/db/client.js';
import type { User } from '../generated/prisma/client.js';

export type { User };

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

    async create(data: { email: string; passwordHash: string }): Promise<User> {
      try {
        return await prisma.user.create({ data });
      } catch (error) {
        // The unique index decides, so two sign-ups racing for one email cannot both win.
        if ((error as { code?: string }).code === 'P2002') throw new EmailTakenError();
        throw error;
      }
    },

    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      await prisma.user.update({ where: { id }, data: { passwordHash } });
    },
  };
}

export type AccountsRepository = ReturnType<typeof accountsRepository>;
