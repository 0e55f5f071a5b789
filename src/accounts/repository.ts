// The only place the accounts feature talks to the database.
import { selectList, type Database, type DatabaseClient, type Prisma, type User } from '../core/db/client.js';

export type { User };

/**
 * The update that ends every session of a user at once: sessions hold the generation of their
 * sign-in, and one older than the user's is signed out (src/web/passport.ts). One atomic
 * `SET session_generation = session_generation + 1`, so no sign-in racing it can slip past.
 */
export const END_EVERY_SESSION = { sessionGeneration: { increment: 1 } } satisfies Prisma.UserUpdateInput;

/** What the admin area's list shows of an account. */
export type AccountSummary = Pick<User, 'id' | 'email' | 'role' | 'lockedAt' | 'createdAt'>;

export type Role = User['role'];

export class EmailTakenError extends Error {
  constructor() {
    super('An account with this email already exists');
    this.name = 'EmailTakenError';
  }
}

const READ_USER = `SELECT ${selectList({
  id: 'id',
  email: 'email',
  passwordHash: 'password_hash',
  role: 'role',
  lockedAt: 'locked_at',
  sessionGeneration: 'session_generation',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
} satisfies Record<keyof User, string>)} FROM users WHERE id = $1`;

export function accountsRepository({ prisma, read }: Pick<Database, 'prisma' | 'read'>) {
  return {
    findByEmail(email: string, db: DatabaseClient = prisma): Promise<User | null> {
      return db.user.findUnique({ where: { email } });
    },

    /** Outside a transaction in plain SQL: every signed-in request and API call reads its account. */
    async findById(id: string, db?: DatabaseClient): Promise<User | null> {
      if (db) return db.user.findUnique({ where: { id } });
      return (await read<User>(READ_USER, [id]))[0] ?? null;
    },

    async create(
      data: { email: string; passwordHash: string; role?: Role },
      db: DatabaseClient = prisma,
    ): Promise<User> {
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

    count(): Promise<number> {
      return prisma.user.count();
    },

    /** The accounts whose email contains `query` (any case; every account for ''), newest first. */
    async search(query: string, skip: number, take: number): Promise<{ total: number; users: AccountSummary[] }> {
      const where: Prisma.UserWhereInput = query ? { email: { contains: query, mode: 'insensitive' } } : {};
      const [total, users] = await Promise.all([
        prisma.user.count({ where }),
        prisma.user.findMany({
          where,
          orderBy: { createdAt: 'desc' },
          skip,
          take,
          select: { id: true, email: true, role: true, lockedAt: true, createdAt: true },
        }),
      ]);
      return { total, users };
    },

    /** The email of each of these accounts that exists. */
    async emailsOf(ids: string[]): Promise<Map<string, string>> {
      if (!ids.length) return new Map();
      const rows = await prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true, email: true } });
      return new Map(rows.map((row) => [row.id, row.email]));
    },

    /**
     * Changes the account's standing (role, lock, sessions) inside `db`; says whether the account
     * was there. updateMany: an account that is gone is an answer, not an error.
     */
    async changeStanding(
      id: string,
      data: Prisma.UserUpdateManyMutationInput,
      db: DatabaseClient = prisma,
    ): Promise<boolean> {
      const { count } = await db.user.updateMany({ where: { id }, data });
      return count === 1;
    },

    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      await prisma.user.update({ where: { id }, data: { passwordHash } });
    },
  };
}

export type AccountsRepository = ReturnType<typeof accountsRepository>;
