// Refresh tokens: opaque (32 random bytes), stored as a SHA-256 hash, rotated on every use.
// The tokens of one sign-in form a family; a token presented after it was used means someone
// kept a copy, so the whole family is revoked (OAuth 2.0 Security BCP, section 4.14). Each use
// is one UPDATE ... WHERE used_at IS NULL: of two requests with one token, one rotates it and
// the other is the reuse.
import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '../core/db/client.js';

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url');
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface RefreshGrant {
  userId: string;
  generation: number;
  amr: string[];
  familyId: string;
}

export type RefreshRefusal = 'invalid' | 'expired' | 'revoked' | 'reused';

export function refreshTokens(deps: { prisma: PrismaClient; lifetimeMs: number; now?: () => number }) {
  const { prisma, lifetimeMs } = deps;
  const now = deps.now ?? Date.now;

  async function issue(grant: RefreshGrant): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await prisma.refreshToken.create({
      data: {
        tokenHash: hashOf(token),
        familyId: grant.familyId,
        userId: grant.userId,
        generation: grant.generation,
        amr: grant.amr.join(' '),
        expiresAt: new Date(now() + lifetimeMs),
      },
    });
    return token;
  }

  async function revokeFamily(familyId: string): Promise<void> {
    await prisma.refreshToken.updateMany({
      where: { familyId, revokedAt: null },
      data: { revokedAt: new Date(now()) },
    });
  }

  return {
    /** A new family's first token, for a sign-in just made (`familyId` a new UUID). */
    issue,

    /** Whether the family was revoked (reused, signed out, revoked by its client). */
    async familyRevoked(familyId: string): Promise<boolean> {
      return (await prisma.refreshToken.count({ where: { familyId, revokedAt: { not: null } } })) > 0;
    },

    /**
     * Uses `token` once: the grant it carries and the family's next token, or why not. A token
     * used before revokes its whole family (`reused`).
     */
    async rotate(
      token: string,
    ): Promise<
      { ok: true; grant: RefreshGrant; next: string } | { ok: false; reason: RefreshRefusal; grant?: RefreshGrant }
    > {
      if (!TOKEN_SHAPE.test(token)) return { ok: false, reason: 'invalid' };
      const row = await prisma.refreshToken.findUnique({ where: { tokenHash: hashOf(token) } });
      if (!row) return { ok: false, reason: 'invalid' };
      const grant: RefreshGrant = {
        userId: row.userId,
        generation: row.generation,
        amr: row.amr.split(' ').filter(Boolean),
        familyId: row.familyId,
      };
      if (row.revokedAt) return { ok: false, reason: 'revoked', grant };
      const { count } = await prisma.refreshToken.updateMany({
        where: { tokenHash: row.tokenHash, usedAt: null, revokedAt: null },
        data: { usedAt: new Date(now()) },
      });
      if (count === 0) {
        await revokeFamily(row.familyId);
        return { ok: false, reason: 'reused', grant };
      }
      if (row.expiresAt.getTime() <= now()) return { ok: false, reason: 'expired', grant };
      return { ok: true, grant, next: await issue(grant) };
    },

    /** Revokes the family of `token` (RFC 7009): says whether it was one of ours. */
    async revoke(token: string): Promise<boolean> {
      if (!TOKEN_SHAPE.test(token)) return false;
      const row = await prisma.refreshToken.findUnique({ where: { tokenHash: hashOf(token) } });
      if (!row) return false;
      await revokeFamily(row.familyId);
      return true;
    },

    revokeFamily,
  };
}

export type RefreshTokens = ReturnType<typeof refreshTokens>;
