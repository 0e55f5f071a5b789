// Where the JSON API keeps a sign-in waiting for its second factor (the `mfa_token`): the same
// pending state the pages keep in the session, in api_mfa_sessions under a hash of the opaque
// token the client holds. Each request takes the row (one DELETE ... RETURNING) and puts it
// back only if the sign-in goes on, so two requests can never use one mfa_token at once, and a
// used one is gone.
import { createHash, randomBytes } from 'node:crypto';
import type { Prisma, PrismaClient } from '../core/db/client.js';
import type { PendingSignIn, PendingSignInStore } from './service.js';

/** What an mfa_token stands for: the sign-in's pending state, and what the API handed out for it. */
export interface MfaSessionState {
  pending: PendingSignIn;
  /** oob codes handed out by /api/auth/mfa/challenge: which factor each stands for. */
  oobCodes: Record<string, string>;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url');

export function mfaSessionsRepository(prisma: PrismaClient) {
  async function write(token: string, state: MfaSessionState, expiresAt: Date): Promise<void> {
    await prisma.apiMfaSession.upsert({
      where: { tokenHash: hashOf(token) },
      create: {
        tokenHash: hashOf(token),
        userId: state.pending.userId,
        state: state as unknown as Prisma.InputJsonValue,
        expiresAt,
      },
      update: { state: state as unknown as Prisma.InputJsonValue, expiresAt },
    });
  }

  return {
    /** Keeps `state` under a new opaque token, and answers the token. */
    async create(state: MfaSessionState, expiresAt: Date): Promise<string> {
      const token = randomBytes(32).toString('base64url');
      await write(token, state, expiresAt);
      return token;
    },

    /** Reads without taking (listing the authenticators changes nothing). */
    async read(token: string, now: Date): Promise<MfaSessionState | undefined> {
      const row = await prisma.apiMfaSession.findUnique({ where: { tokenHash: hashOf(token) } });
      return row && row.expiresAt > now ? (row.state as unknown as MfaSessionState) : undefined;
    },

    /** Takes the state: no other request can have it until it is put back. Undefined when there is none (used, expired, unknown). */
    async take(token: string, now: Date): Promise<{ state: MfaSessionState; expiresAt: Date } | undefined> {
      const rows = await prisma.$queryRaw<Array<{ state: MfaSessionState; expires_at: Date }>>`
        DELETE FROM api_mfa_sessions WHERE token_hash = ${hashOf(token)} RETURNING state, expires_at`;
      const row = rows[0];
      return row && row.expires_at > now ? { state: row.state, expiresAt: row.expires_at } : undefined;
    },

    /** Puts the state back after a request that did not finish the sign-in. */
    put: write,

    /** Forgets sessions that expired. */
    async forgetExpired(now: Date): Promise<void> {
      await prisma.apiMfaSession.deleteMany({ where: { expiresAt: { lt: now } } });
    },
  };
}

export type MfaSessionsRepository = ReturnType<typeof mfaSessionsRepository>;

/** A PendingSignInStore over one request's copy of the state: what the sign-in service wrote, read back after. */
export function memoryStore(pending: PendingSignIn | undefined): PendingSignInStore & { cleared(): boolean } {
  let current = pending;
  let wasCleared = false;
  return {
    renew: () => Promise.resolve(),
    read: () => current,
    write: (next) => {
      current = next;
    },
    clear: () => {
      current = undefined;
      wasCleared = true;
    },
    cleared: () => wasCleared,
  };
}
