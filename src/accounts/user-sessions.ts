// The signed-in sessions of the pages ("Your sessions" on /account): one row of user_sessions
// per signed-in session, its random id kept in the session beside the user id and generation.
// Every request checks the row in the same statement that reads the account (src/sign-in), so
// a session signed out from another device (or by "sign out everywhere", a lock, a deletion) is
// dead from its next request, on whichever instance it lands: nothing of this lives in a
// process. The rows are this feature's because everything that ends every session of an account
// (sign out everywhere, a lock, a deletion) is an account change made here, in the same
// transaction.
import { randomUUID } from 'node:crypto';
import { describeBrowser, type AuditLog, type RequestContext } from '../audit/index.js';
import type { Database, DatabaseClient, InTransaction } from '../core/db/client.js';
import { validIp } from '../core/ip.js';
import type { SessionLifetime } from '../core/sessions.js';

/**
 * Last seen is written at most once in this interval, not on every request. A row counts as
 * idle only this long after its session's own idle timeout, so a session is never pruned while
 * its store still holds it.
 */
export const LAST_SEEN_INTERVAL_MS = 60_000;

/** A signed-in session as "Your sessions" lists it. */
export interface ListedSession {
  id: string;
  createdAt: Date;
  lastSeenAt: Date;
  ip: string | null;
  browser: string;
}

export type SessionSignOut = { ok: true } | { ok: false; reason: 'not_found' };

/** Some of the person's signed-in sessions, and how many there are in all. */
export interface ListedSessions {
  sessions: ListedSession[];
  total: number;
}

/**
 * The account page's list, in plain SQL (see PlainRead): it is read on every view of the page.
 * An account signed in thousands of times has thousands of live rows, so the page gets the
 * first $4 (session $3 first, then last seen first) and the count of all, in one statement. A
 * row idle past its timeout (and the last-seen interval) is left out: its session is over.
 */
const READ_LISTED = `SELECT id, created_at AS "createdAt", last_seen_at AS "lastSeenAt", ip, browser,
       count(*) OVER ()::int AS "total"
  FROM user_sessions
 WHERE user_id = $1 AND last_seen_at + make_interval(secs => idle_seconds + ${LAST_SEEN_INTERVAL_MS / 1000}) > $2
 ORDER BY id = $3 DESC, last_seen_at DESC
 LIMIT $4`;

/**
 * A session's row ($1, of the user $2, at $3), made only while the account holds generation $4
 * and is not locked, its row held FOR SHARE (see `create`). On the way, every row past its
 * absolute lifetime goes (indexed), and the user's rows idle for longer than their timeout (and
 * the last-seen interval); another person's idle rows wait for their own next sign-in or their
 * absolute lifetime, and are not listed meanwhile.
 */
const START = `WITH pruned AS (
  DELETE FROM user_sessions
   WHERE expires_at < $3
      OR (user_id = $2::uuid AND last_seen_at + make_interval(secs => idle_seconds + ${LAST_SEEN_INTERVAL_MS / 1000}) < $3)
), holder AS (
  SELECT id FROM users WHERE id = $2::uuid AND session_generation = $4 AND locked_at IS NULL FOR SHARE
)
INSERT INTO user_sessions (id, user_id, created_at, last_seen_at, expires_at, idle_seconds, ip, browser)
SELECT $1::uuid, id, $3, $3, $5, $6, $7, $8 FROM holder`;

export function userSessionsRepository({ prisma, read, write }: Pick<Database, 'prisma' | 'read' | 'write'>) {
  return {
    /**
     * Adds the row of a session just signed in, unless every session of the account ended since
     * the sign-in read it (its generation moved on), the account is locked or gone: the account
     * row is held (FOR SHARE) meanwhile, so "sign out everywhere", a lock or a deletion running
     * beside it either comes after and removes this row, or came before and no row is made.
     * Forgets expired rows on the way (see START). One statement, so one transaction.
     */
    async create(
      row: { id: string; userId: string; generation: number; expiresAt: Date; idleSeconds: number } & Pick<
        ListedSession,
        'ip' | 'browser'
      >,
      now: Date,
    ): Promise<void> {
      await write(START, [
        row.id,
        row.userId,
        now,
        row.generation,
        row.expiresAt,
        row.idleSeconds,
        row.ip,
        row.browser,
      ]);
    },

    /** Moves the row's last seen to `now`, unless another request did since `staleBefore`. */
    async touch(sessionId: string, now: Date, staleBefore: Date): Promise<void> {
      await prisma.userSession.updateMany({
        where: { id: sessionId, lastSeenAt: { lt: staleBefore } },
        data: { lastSeenAt: now },
      });
    },

    /** The first `limit` live sessions of `userId` at `now`, `currentId` first, and the count of all. */
    async listForUser(userId: string, currentId: string | null, now: Date, limit: number): Promise<ListedSessions> {
      const rows = await read<ListedSession & { total: number }>(READ_LISTED, [userId, now, currentId, limit]);
      return { sessions: rows.map(({ total: _total, ...row }) => row), total: rows[0]?.total ?? 0 };
    },

    /** Removes the session `sessionId` of `userId`; says whether it was there. */
    async remove(userId: string, sessionId: string, db: DatabaseClient = prisma): Promise<boolean> {
      const { count } = await db.userSession.deleteMany({ where: { id: sessionId, userId } });
      return count === 1;
    },

    async removeAll(userId: string, db: DatabaseClient = prisma): Promise<void> {
      await db.userSession.deleteMany({ where: { userId } });
    },
  };
}

export type UserSessionsRepository = ReturnType<typeof userSessionsRepository>;

export function userSessions(deps: {
  repository: UserSessionsRepository;
  audit: AuditLog;
  inTransaction: InTransaction;
  lifetime: SessionLifetime;
  now?: () => number;
}) {
  const { repository, audit, inTransaction, lifetime } = deps;
  const now = deps.now ?? Date.now;
  const staleBefore = () => new Date(now() - LAST_SEEN_INTERVAL_MS);

  return {
    /**
     * The row of a session being signed in, made before the session is: its id goes into the
     * session. A sign-in that every session of the account ended meanwhile gets an id with no
     * row, so its session is signed out at its first request.
     */
    async start(
      account: { id: string; sessionGeneration: number },
      remember: boolean,
      context: RequestContext,
    ): Promise<string> {
      const id = randomUUID();
      const at = now();
      const lasts = remember ? lifetime.rememberMeMs : lifetime.absoluteLifetimeMs;
      // With "Remember me" the cookie, and so the idle timeout, lasts as long as the session.
      const idle = remember ? lifetime.rememberMeMs : lifetime.idleTimeoutMs;
      await repository.create(
        {
          id,
          userId: account.id,
          generation: account.sessionGeneration,
          expiresAt: new Date(at + lasts),
          idleSeconds: Math.ceil(idle / 1000),
          ip: validIp(context.ip),
          browser: describeBrowser(context.userAgent),
        },
        new Date(at),
      );
      return id;
    },

    /**
     * A session's last seen older than this is moved on (`seen`): the read of the signed-in
     * person, which checks the session's row on every request (src/sign-in), asks it.
     */
    staleBefore,

    /** A request of the session found its last seen older than `staleBefore()`: it moves on. */
    async seen(sessionId: string): Promise<void> {
      await repository.touch(sessionId, new Date(now()), staleBefore());
    },

    /**
     * At most `limit` signed-in sessions of the person, `currentId` (this session) first, then last
     * seen first, and how many there are in all (those past their idle timeout left out).
     */
    list(userId: string, currentId: string | null, limit: number): Promise<ListedSessions> {
      return repository.listForUser(userId, currentId, new Date(now()), limit);
    },

    /** This session is signing out: its row goes. */
    async ended(userId: string, sessionId: string): Promise<void> {
      await repository.remove(userId, sessionId);
    },

    /**
     * Signs out another session of the person (from "Your sessions"): its row goes, and it is
     * signed out at its next request. A session that is not theirs (or no longer there) is
     * `not_found`, and nothing changes.
     */
    signOut(userId: string, sessionId: string, context: RequestContext): Promise<SessionSignOut> {
      return inTransaction(async (tx) => {
        if (!(await repository.remove(userId, sessionId, tx))) return { ok: false, reason: 'not_found' } as const;
        await audit.record(
          { type: 'sign_out', outcome: 'ok', userId, context, detail: { remote: true, session: sessionId } },
          tx,
        );
        return { ok: true } as const;
      });
    },
  };
}

export type UserSessions = ReturnType<typeof userSessions>;
