// "Don't ask again on this browser for 30 days": after a second factor, a browser may be
// remembered by a random token in a cookie, kept here only as its SHA-256 hash beside a browser
// summary. At the password step a remembered browser of the same account skips the second
// factor; the password is always asked. The rows are this feature's because everything that
// forgets them all (a password changed or reset, "sign out everywhere", a lock, a deletion) is
// an account change made here, in the transaction that ends every session (repository.ts);
// turning 2FA off forgets them through the factors' hook (compose.ts).
import { createHash, randomBytes } from 'node:crypto';
import { describeBrowser, type AuditLog, type RequestContext } from '../audit/index.js';
import { selectList, type Database, type DatabaseClient, type InTransaction } from '../core/db/client.js';

/** How long a browser stays remembered: from the moment it was, never extended by use. */
export const REMEMBER_BROWSER_DAYS = 30;
export const REMEMBER_BROWSER_MS = REMEMBER_BROWSER_DAYS * 86_400_000;

/** 32 random bytes, base64url: anything else in a cookie is no token (and never reaches a query). */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** The well-formed tokens among what a cookie held. */
const tokensIn = (tokens: readonly string[]) => tokens.filter((token) => TOKEN.test(token));

/** A remembered browser as the account page lists it; `current` is the browser asking. */
export interface RememberedBrowser {
  id: string;
  device: string;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  current: boolean;
}

/**
 * The account page's list, in plain SQL (it is read on every view of the page by a person with
 * 2FA): the rows not past their 30 days ($2), newest first, each marked `current` when its token
 * is one of the cookie's (their hashes, $3), in one statement.
 */
const READ_LISTED = `SELECT ${selectList({
  id: 'id',
  device: 'device',
  createdAt: 'created_at',
  expiresAt: 'expires_at',
  lastUsedAt: 'last_used_at',
  current: 'token_hash = ANY($3::text[])',
} satisfies Record<keyof RememberedBrowser, string>)}
  FROM remembered_browsers WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC`;

export type ForgetResult = { ok: true; keep: string[] } | { ok: false; reason: 'not_found' };

/** Forgets every remembered browser of the account, inside the caller's transaction. */
export async function forgetRememberedBrowsersOf(userId: string, db: DatabaseClient): Promise<void> {
  await db.rememberedBrowser.deleteMany({ where: { userId } });
}

export function rememberedBrowsers(deps: {
  database: Pick<Database, 'prisma' | 'read'>;
  audit: AuditLog;
  inTransaction: InTransaction;
  now?: () => number;
}) {
  const { prisma, read } = deps.database;
  const { audit, inTransaction } = deps;
  const now = deps.now ?? Date.now;

  /** This account's rows whose token is among `tokens`, with the token each came from. */
  async function ownRows(userId: string, tokens: readonly string[], db: DatabaseClient = prisma) {
    const byHash = new Map(tokensIn(tokens).map((token) => [hashOf(token), token]));
    if (!byHash.size) return [];
    const rows = await db.rememberedBrowser.findMany({
      where: { userId, tokenHash: { in: [...byHash.keys()] } },
      select: { id: true, tokenHash: true },
    });
    return rows.map((row) => ({ id: row.id, token: byHash.get(row.tokenHash)! }));
  }

  return {
    /**
     * Remembers this browser for the account, right where its sign-in is granted; the token for
     * the cookie, or undefined when the sign-in no longer holds. The account row is held (FOR
     * SHARE) meanwhile, so whatever forgets every remembered browser (a new generation) or turns
     * 2FA off, running beside it, either comes after and removes this row or came before and
     * none is made.
     */
    async remember(
      account: { id: string; sessionGeneration: number },
      context: RequestContext,
    ): Promise<{ token: string; expiresAt: Date } | undefined> {
      const token = randomBytes(32).toString('base64url');
      const at = now();
      const expiresAt = new Date(at + REMEMBER_BROWSER_MS);
      const device = describeBrowser(context.userAgent);
      const made = await inTransaction(async (tx) => {
        const [user] = await tx.$queryRaw<Array<{ holds: boolean }>>`
          SELECT locked_at IS NULL AND session_generation = ${account.sessionGeneration} AS holds
          FROM users WHERE id = ${account.id}::uuid FOR SHARE`;
        if (!user?.holds) return undefined;
        // Its own statement, after the lock: a statement that waited for the lock re-reads the
        // locked row only, so factors removed by the transaction it waited for (2FA turned off)
        // would still be seen by a subquery of that same statement.
        const [factors] = await tx.$queryRaw<Array<{ any: boolean }>>`
          SELECT EXISTS (SELECT 1 FROM user_factors WHERE user_id = ${account.id}::uuid) AS any`;
        if (!factors?.any) return undefined;
        await tx.rememberedBrowser.deleteMany({ where: { userId: account.id, expiresAt: { lte: new Date(at) } } });
        const row = await tx.rememberedBrowser.create({
          data: { userId: account.id, tokenHash: hashOf(token), device, createdAt: new Date(at), expiresAt },
        });
        await audit.record(
          {
            type: 'remembered_browser',
            outcome: 'remembered',
            userId: account.id,
            context,
            detail: { browser: row.id, device },
          },
          tx,
        );
        return row;
      });
      return made ? { token, expiresAt } : undefined;
    },

    /**
     * Whether one of `tokens` (the cookie's) remembers this browser for this account, not
     * expired nor forgotten; its last use is noted. Another account's token counts for nothing.
     */
    async honour(userId: string, tokens: readonly string[], context: RequestContext): Promise<boolean> {
      const hashes = tokensIn(tokens).map(hashOf);
      if (!hashes.length) return false;
      const at = new Date(now());
      const used = await prisma.rememberedBrowser.updateManyAndReturn({
        where: { userId, tokenHash: { in: hashes }, expiresAt: { gt: at } },
        data: { lastUsedAt: at },
        select: { id: true },
      });
      if (!used.length) return false;
      await audit.record({
        type: 'remembered_browser',
        outcome: 'used',
        userId,
        context,
        detail: { browser: used[0]!.id },
      });
      return true;
    },

    /** The person's remembered browsers not past their 30 days, newest first. */
    list(userId: string, tokens: readonly string[]): Promise<RememberedBrowser[]> {
      return read<RememberedBrowser>(READ_LISTED, [userId, new Date(now()), tokensIn(tokens).map(hashOf)]);
    },

    /**
     * "Forget" one remembered browser of the person (`{ id }`), the one asking (`'this'`: the rows of
     * the cookie's tokens), or every one (`'all'`). `keep`: the
     * cookie's tokens that still mean something, so forgetting this browser clears its cookie.
     */
    forget(
      userId: string,
      which: { id: string } | 'all' | 'this',
      tokens: readonly string[],
      context: RequestContext,
    ): Promise<ForgetResult> {
      const id = typeof which === 'object' ? which.id : undefined;
      return inTransaction(async (tx) => {
        // Which of the cookie's tokens are the ones forgotten: read before the rows go.
        const own = await ownRows(userId, tokens, tx);
        const forgotten = which === 'all' ? own : own.filter((row) => which === 'this' || row.id === id);
        const { count } = await tx.rememberedBrowser.deleteMany({
          where: which === 'this' ? { userId, id: { in: forgotten.map((row) => row.id) } } : { userId, id },
        });
        if (!count && id !== undefined) return { ok: false, reason: 'not_found' } as const;
        await audit.record(
          {
            type: 'remembered_browser',
            outcome: 'forgotten',
            userId,
            context,
            detail: { browser: typeof which === 'object' ? which.id : which, count },
          },
          tx,
        );
        // Tokens of other accounts (a browser several people use) stay in the cookie.
        const gone = new Set(forgotten.map((row) => row.token));
        return { ok: true, keep: tokensIn(tokens).filter((token) => !gone.has(token)) } as const;
      });
    },
  };
}

export type RememberedBrowsers = ReturnType<typeof rememberedBrowsers>;
