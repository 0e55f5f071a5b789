// The one read of the signed-in person that every signed-in request makes (signedInAccount in
// ./service.ts): the account, the row of its session in user_sessions (a session of the pages)
// and its factors, in one statement, one round trip. The tables are the accounts' and the
// factors' features'; their column lists and the factors' json come from there.
import { USER_COLUMNS, UUID, type User } from '../accounts/index.js';
import { selectList, type Database } from '../core/db/client.js';
import { factorsAsJson, factorsFromJson, type FactorJson, type UserFactor } from '../factors/index.js';

const ACCOUNT = selectList(
  Object.fromEntries(Object.entries(USER_COLUMNS).map(([field, column]) => [field, `u.${column}`])),
);

/** A session of the pages: only while its row is there, and whether its last seen is older than $3. */
const READ_WITH_SESSION = `SELECT ${ACCOUNT}, s.last_seen_at < $3 AS "stale", ${factorsAsJson('u.id')} AS "factors"
  FROM users u JOIN user_sessions s ON s.user_id = u.id
 WHERE u.id = $1 AND s.id = $2`;

/** An API sign-in: its refresh-token family stands for it, not a row. */
const READ_WITHOUT_SESSION = `SELECT ${ACCOUNT}, false AS "stale", ${factorsAsJson('u.id')} AS "factors"
  FROM users u
 WHERE u.id = $1`;

export interface SignedInRead {
  user: User;
  factors: UserFactor[];
  /** The session's last seen is older than the `staleBefore` asked about (never for an API sign-in). */
  stale: boolean;
}

export function signedInRepository({ read }: Pick<Database, 'read'>) {
  return {
    /**
     * The account `userId` with its factors; for a session of the pages (`session`), only while
     * the session's row is there.
     */
    async read(userId: string, session: { id: string; staleBefore: Date } | null): Promise<SignedInRead | undefined> {
      // Both were written by us (into the session, or a signed token); anything else is no one,
      // never a SQL error (Postgres refuses a malformed uuid).
      if (!UUID.test(userId) || (session && !UUID.test(session.id))) return undefined;
      const [found] = session
        ? await read<User & { stale: boolean; factors: FactorJson[] }>(READ_WITH_SESSION, [
            userId,
            session.id,
            session.staleBefore,
          ])
        : await read<User & { stale: boolean; factors: FactorJson[] }>(READ_WITHOUT_SESSION, [userId]);
      if (!found) return undefined;
      const { stale, factors, ...user } = found;
      return { user, factors: factorsFromJson(factors), stale };
    },
  };
}

export type SignedInRepository = ReturnType<typeof signedInRepository>;
