// Links sent by email (password reset, email verification, change of email): the only place
// that reads and writes `email_tokens`. The token itself goes out in the mail; only its SHA-256
// is kept, so the table alone opens nothing.
import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';

export type EmailTokenPurpose = 'password_reset' | 'verify_email' | 'change_email';

/** A token as the link carries it: 32 random bytes, base64url. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

export interface LiveEmailToken {
  tokenHash: string;
  userId: string;
  email: string;
}

export function emailTokensRepository(prisma: PrismaClient) {
  return {
    /**
     * A new token for `userId` and `purpose`, sent to `email`; every other unused one of that
     * purpose stops working (a newer request voids the older link), and used ones go: a person
     * has at most one row per purpose. Returns the token to mail.
     */
    async issue(
      input: { userId: string; purpose: EmailTokenPurpose; email: string; lifetimeMs: number },
      db: DatabaseClient,
    ): Promise<string> {
      const token = randomBytes(32).toString('base64url');
      // One issue at a time per person: of parallel requests, the last leaves the only live link.
      await db.$queryRaw`SELECT 1 FROM users WHERE id = ${input.userId}::uuid FOR UPDATE`;
      await db.emailToken.deleteMany({ where: { userId: input.userId, purpose: input.purpose } });
      await db.emailToken.create({
        data: {
          tokenHash: hashToken(token),
          userId: input.userId,
          purpose: input.purpose,
          email: input.email,
          expiresAt: new Date(Date.now() + input.lifetimeMs),
        },
      });
      return token;
    },

    /** The unused, unexpired token of `purpose`, without using it; undefined for anything else. */
    async find(
      token: string,
      purpose: EmailTokenPurpose,
      db: DatabaseClient = prisma,
    ): Promise<LiveEmailToken | undefined> {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      const row = await db.emailToken.findFirst({
        where: { tokenHash: hashToken(token), purpose, usedAt: null, expiresAt: { gt: new Date() } },
        select: { tokenHash: true, userId: true, email: true },
      });
      return row ?? undefined;
    },

    /**
     * Uses the token: one UPDATE ... WHERE used_at IS NULL, so of two requests racing with one
     * link exactly one gets it. Undefined when it was used, expired, voided or never issued.
     */
    async use(token: string, purpose: EmailTokenPurpose, db: DatabaseClient): Promise<LiveEmailToken | undefined> {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      const tokenHash = hashToken(token);
      const { count } = await db.emailToken.updateMany({
        where: { tokenHash, purpose, usedAt: null, expiresAt: { gt: new Date() } },
        data: { usedAt: new Date() },
      });
      if (count !== 1) return undefined;
      const row = await db.emailToken.findUnique({ where: { tokenHash }, select: { userId: true, email: true } });
      return row ? { tokenHash, ...row } : undefined;
    },

    /** Voids every unused token of these purposes of the user (a password or email changed). */
    async voidAll(userId: string, purposes: EmailTokenPurpose[], db: DatabaseClient): Promise<void> {
      await db.emailToken.deleteMany({ where: { userId, purpose: { in: purposes }, usedAt: null } });
    },
  };
}

export type EmailTokensRepository = ReturnType<typeof emailTokensRepository>;
