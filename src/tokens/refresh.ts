// Refresh tokens: opaque (32 random bytes), stored as a SHA-256 hash, rotated on every use.
// The tokens of one sign-in form a family; a token presented after it was used means someone
// kept a copy, so the whole family is revoked (OAuth 2.0 Security BCP, section 4.14). A
// family's rotations and revocations take turns under its lock: of two requests with one
// token, one rotates it and the other is the reuse, which also ends the token just issued.
import { createHash, randomBytes } from 'node:crypto';
import { describeBrowser, type RequestContext } from '../audit/index.js';
import type { Database, DatabaseClient, InTransaction } from '../core/db/client.js';
import { validIp } from '../core/ip.js';

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url');
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface RefreshGrant {
  userId: string;
  generation: number;
  amr: string[];
  familyId: string;
}

export type RefreshRefusal = 'invalid' | 'expired' | 'revoked' | 'reused';

/** A sign-in through the API that still holds (a family with a live token), as "Your sessions" lists it. */
export interface ApiSignIn {
  familyId: string;
  signedInAt: Date;
  /** When its latest token was issued: the sign-in, or the last refresh. */
  lastSeenAt: Date;
  ip: string | null;
  browser: string | null;
}

/** Some of a person's API sign-ins, and how many there are in all. */
export interface ApiSignIns {
  signIns: ApiSignIn[];
  total: number;
}

/**
 * A person's API sign-ins, for the account page (so in plain SQL, see PlainRead): each family's
 * live token, and the family's first token's time, when the sign-in began; the $3 last refreshed
 * and the count of all (a script signing in again and again makes thousands).
 */
const READ_SIGN_INS = `SELECT t.family_id AS "familyId", t.created_at AS "lastSeenAt", t.ip, t.browser,
       (SELECT min(f.created_at) FROM refresh_tokens f WHERE f.family_id = t.family_id) AS "signedInAt",
       count(*) OVER ()::int AS "total"
  FROM refresh_tokens t
 WHERE t.user_id = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > $2
   -- "Sign out everywhere" or a lock raised the generation: such a sign-in no longer holds.
   AND t.generation = (SELECT u.session_generation FROM users u WHERE u.id = $1)
 ORDER BY t.created_at DESC
 LIMIT $3`;

export function refreshTokens(deps: {
  database: Pick<Database, 'prisma' | 'read'>;
  inTransaction: InTransaction;
  lifetimeMs: number;
  now?: () => number;
}) {
  const { database, inTransaction, lifetimeMs } = deps;
  const { prisma, read } = database;
  const now = deps.now ?? Date.now;

  /**
   * Runs `work` in a transaction holding the family's advisory lock: a rotation and a
   * revocation of one family (reuse detected, the client's revoke, a sign-out) take turns, so
   * a token issued by a rotation is never left out of a revocation running beside it.
   */
  const underFamilyLock = <T>(familyId: string, work: (tx: DatabaseClient) => Promise<T>) =>
    inTransaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`refresh family ${familyId}`}))`;
      return work(tx);
    });

  async function issue(grant: RefreshGrant, context: RequestContext, client: DatabaseClient = prisma): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await client.refreshToken.create({
      data: {
        tokenHash: hashOf(token),
        familyId: grant.familyId,
        userId: grant.userId,
        generation: grant.generation,
        amr: grant.amr.join(' '),
        expiresAt: new Date(now() + lifetimeMs),
        ip: validIp(context.ip),
        browser: describeBrowser(context.userAgent),
      },
    });
    return token;
  }

  const revokedIn = async (client: DatabaseClient, familyId: string) =>
    (await client.refreshToken.count({ where: { familyId, revokedAt: { not: null } } })) > 0;

  const revokeIn = (tx: DatabaseClient, familyId: string) =>
    tx.refreshToken.updateMany({ where: { familyId, revokedAt: null }, data: { revokedAt: new Date(now()) } });

  const revokeFamily = async (familyId: string): Promise<void> => {
    await underFamilyLock(familyId, (tx) => revokeIn(tx, familyId));
  };

  /** The grant `token` carries, when it is one of ours (used, revoked or expired alike). */
  async function grantOf(token: string): Promise<RefreshGrant | undefined> {
    if (!TOKEN_SHAPE.test(token)) return undefined;
    const row = await prisma.refreshToken.findUnique({ where: { tokenHash: hashOf(token) } });
    if (!row) return undefined;
    return {
      userId: row.userId,
      generation: row.generation,
      amr: row.amr.split(' ').filter(Boolean),
      familyId: row.familyId,
    };
  }

  return {
    /** A new family's first token, for a sign-in just made (`familyId` a new UUID). */
    issue: (grant: RefreshGrant, context: RequestContext) => issue(grant, context),

    /** Whether the family was revoked (reused, signed out, revoked by its client). */
    familyRevoked: async (familyId: string): Promise<boolean> =>
      // Plain SQL: every request with an account's access token asks (see PlainRead).
      (await read('SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL LIMIT 1', [familyId]))
        .length > 0,

    /**
     * Uses `token` once: the grant it carries and the family's next token, or why not. A token
     * used before revokes its whole family (`reused`).
     */
    async rotate(
      token: string,
      context: RequestContext,
    ): Promise<
      { ok: true; grant: RefreshGrant; next: string } | { ok: false; reason: RefreshRefusal; grant?: RefreshGrant }
    > {
      const grant = await grantOf(token);
      if (!grant) return { ok: false, reason: 'invalid' };
      return underFamilyLock(grant.familyId, async (tx) => {
        const row = await tx.refreshToken.findUniqueOrThrow({ where: { tokenHash: hashOf(token) } });
        if (await revokedIn(tx, grant.familyId)) return { ok: false, reason: 'revoked', grant } as const;
        if (row.usedAt) {
          await revokeIn(tx, grant.familyId);
          return { ok: false, reason: 'reused', grant } as const;
        }
        await tx.refreshToken.update({ where: { tokenHash: row.tokenHash }, data: { usedAt: new Date(now()) } });
        if (row.expiresAt.getTime() <= now()) return { ok: false, reason: 'expired', grant } as const;
        return { ok: true, grant, next: await issue(grant, context, tx) } as const;
      });
    },

    /** Revokes the family of `token` (RFC 7009): the grant it carried, or undefined when it is not ours. */
    async revoke(token: string): Promise<RefreshGrant | undefined> {
      const grant = await grantOf(token);
      if (grant) await revokeFamily(grant.familyId);
      return grant;
    },

    revokeFamily,

    /**
     * The person's API sign-ins that still hold, at most `limit` (last refreshed first), and how
     * many in all: each family's live token (unused, unrevoked, in time) says when and from where
     * it was last refreshed; its first token, when it began.
     */
    async signIns(userId: string, limit: number): Promise<ApiSignIns> {
      const rows = await read<ApiSignIn & { total: number }>(READ_SIGN_INS, [userId, new Date(now()), limit]);
      return { signIns: rows.map(({ total: _total, ...row }) => row), total: rows[0]?.total ?? 0 };
    },

    /** Revokes the family `familyId` when it is `userId`'s and not revoked yet; says whether it was. */
    async revokeFamilyOf(userId: string, familyId: string): Promise<boolean> {
      const { count } = await underFamilyLock(familyId, (tx) =>
        tx.refreshToken.updateMany({
          where: { familyId, userId, revokedAt: null },
          data: { revokedAt: new Date(now()) },
        }),
      );
      return count > 0;
    },
  };
}

export type RefreshTokens = ReturnType<typeof refreshTokens>;
