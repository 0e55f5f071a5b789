// The only place the accounts feature talks to the database.
import { forgetRememberedBrowsersOf } from './remembered-browsers.js';
import { selectList, type Database, type DatabaseClient, type Prisma, type User } from '../core/db/client.js';

export type { User };

/**
 * The update that ends every session of a user at once: sessions hold the generation of their
 * sign-in, and one older than the user's is signed out (src/web/passport.ts). One atomic
 * `SET session_generation = session_generation + 1`, so no sign-in racing it can slip past.
 */
export const END_EVERY_SESSION = { sessionGeneration: { increment: 1 } } satisfies Prisma.UserUpdateInput;

/**
 * A signed-in session asking for a change: its account, the generation it signed in with, and
 * (for a session of the pages) its row in user_sessions. The API's access tokens have no row.
 */
export interface SignedInSession {
  id: string;
  sessionGeneration: number;
  sessionId?: string;
}

/** What the admin area's list shows of an account. */
export type AccountSummary = Pick<User, 'id' | 'email' | 'role' | 'lockedAt' | 'createdAt'>;

export type Role = User['role'];

/**
 * Inside the transaction `tx`: waits for the turn of admin changes (a transaction-scoped advisory
 * lock, held until `tx` ends). Whatever changes who the active admins are (an admin's action on a
 * role or a lock, an admin deleting their own account) takes it first, so such changes run one at
 * a time and the rule "an active admin always remains" is read and kept in the same turn.
 */
export async function takeAdminChangesTurn(tx: DatabaseClient): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('admin changes'))`;
}

export class EmailTakenError extends Error {
  constructor() {
    super('An account with this email already exists');
    this.name = 'EmailTakenError';
  }
}

/**
 * What goes when every session of an account ends ("sign out everywhere", a lock, a password
 * changed or reset): the sessions' rows (src/accounts/user-sessions.ts), the remembered
 * browsers (a sign-in there would skip the second factor), and a change of email not yet
 * confirmed, which a session that is now signed out may have asked for (someone who knew the
 * password must not finish moving the account to their address afterwards).
 */
async function forgetSessionsOf(id: string, db: DatabaseClient): Promise<void> {
  await db.userSession.deleteMany({ where: { userId: id } });
  await forgetRememberedBrowsersOf(id, db);
  await db.emailToken.deleteMany({ where: { userId: id, purpose: 'change_email', usedAt: null } });
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every column of `users`, by the model's field: plain SQL reads list them all (a new field fails to compile until added). */
export const USER_COLUMNS = {
  id: 'id',
  email: 'email',
  passwordHash: 'password_hash',
  role: 'role',
  lockedAt: 'locked_at',
  sessionGeneration: 'session_generation',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  emailVerifiedAt: 'email_verified_at',
  notifyNewBrowser: 'notify_new_browser',
} satisfies Record<keyof User, string>;

const READ_USER = `SELECT ${selectList(USER_COLUMNS)} FROM users WHERE id = $1`;
const READ_USER_BY_EMAIL = `SELECT ${selectList(USER_COLUMNS)} FROM users WHERE email = $1`;

export function accountsRepository({ prisma, read }: Pick<Database, 'prisma' | 'read'>) {
  return {
    /** Outside a transaction in plain SQL: every sign-in reads its account by email. */
    async findByEmail(email: string, db?: DatabaseClient): Promise<User | null> {
      if (db && db !== prisma) return db.user.findUnique({ where: { email } });
      return (await read<User>(READ_USER_BY_EMAIL, [email]))[0] ?? null;
    },

    /** Outside a transaction in plain SQL: every signed-in request and API call reads its account. */
    async findById(id: string, db?: DatabaseClient): Promise<User | null> {
      if (db && db !== prisma) return db.user.findUnique({ where: { id } });
      // Postgres refuses a malformed uuid with an error; such an id names no account.
      if (!UUID.test(id)) return null;
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
      await forgetSessionsOf(id, db);
    },

    /**
     * Inside the transaction `tx`, first: takes the account row and says whether `session` still
     * holds (its generation, the account not locked, its row still there). "Sign out everywhere",
     * a lock or a deletion either committed before, and this says no, or waits for `tx` to end:
     * a change checked here cannot land after one of them. NO KEY UPDATE, what changing the row
     * takes anyway: audit events of the account (which reference it) are not held back, and a
     * single session signed out beside it (its row deleted, then audited) cannot deadlock with it.
     */
    async sessionHolds(session: SignedInSession, tx: DatabaseClient): Promise<boolean> {
      const [user] = await tx.$queryRaw<Array<{ holds: boolean }>>`
        SELECT locked_at IS NULL AND session_generation = ${session.sessionGeneration} AS holds
          FROM users WHERE id = ${session.id}::uuid FOR NO KEY UPDATE`;
      if (!user?.holds) return false;
      if (session.sessionId === undefined) return true;
      // Its own statement, after the lock (a subquery of the locking one would read the rows as
      // they were before the transaction it waited for). KEY SHARE: a sign-out of this session
      // beside it waits until the change is made, and then ends the session as usual.
      const rows = await tx.$queryRaw<unknown[]>`
        SELECT 1 FROM user_sessions WHERE id = ${session.sessionId}::uuid AND user_id = ${session.id}::uuid
           FOR KEY SHARE`;
      return rows.length === 1;
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
      if (data.sessionGeneration !== undefined) await forgetSessionsOf(id, db);
      return count === 1;
    },

    /** A new, confirmed address; EmailTakenError when another account has it (the unique index decides). */
    async changeEmail(id: string, email: string, db: DatabaseClient): Promise<void> {
      try {
        await db.user.update({ where: { id }, data: { email, emailVerifiedAt: new Date() } });
      } catch (error) {
        if ((error as { code?: string }).code === 'P2002') throw new EmailTakenError();
        throw error;
      }
    },

    takeAdminChangesTurn,

    /** How many admins are not locked. */
    countActiveAdmins(db: DatabaseClient = prisma): Promise<number> {
      return db.user.count({ where: { role: 'ADMIN', lockedAt: null } });
    },

    /** Deletes the account; what hangs on it (factors, sessions, tokens) goes with it (ON DELETE CASCADE). */
    async remove(id: string, db: DatabaseClient = prisma): Promise<void> {
      await db.user.delete({ where: { id } });
    },

    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      await prisma.user.update({ where: { id }, data: { passwordHash } });
    },
  };
}

export type AccountsRepository = ReturnType<typeof accountsRepository>;
