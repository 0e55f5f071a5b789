// The signed-in session, started once a sign-in is granted (by the sign-in steps, or at sign-up).
import type { Request } from 'express';
import type { SessionData } from 'express-session';
import type { UserSessions } from '../accounts/index.js';
import { contextOf } from '../audit/index.js';
import { applyRememberMe, regenerateSession, sessionStep, type SessionLifetime } from '../core/sessions.js';
import type { Account, PendingSignIn, PendingSignInStore } from '../sign-in/index.js';

declare module 'express-session' {
  interface SessionData {
    /** Password accepted, factor not yet: grants nothing (see src/sign-in). */
    pendingSignIn?: PendingSignIn;
    /** The second factor a password reset asks for was passed, for the link with this hash. */
    passwordResetPassed?: { linkHash: string; at: number };
  }
}

/** The pending sign-in of this session (a sign-in's, or a password reset's second factor). */
export function pendingStore(req: Request): PendingSignInStore {
  return {
    renew: () => regenerateSession(req),
    read: () => req.session.pendingSignIn,
    write: (pending) => {
      req.session.pendingSignIn = pending;
    },
    clear: () => {
      delete req.session.pendingSignIn;
    },
  };
}

/**
 * Starts the signed-in session: its row in user_sessions ("Your sessions"), then a new session
 * ID for the account, for the idle timeout or, with "Remember me", for weeks. `account` is as
 * read when the sign-in began, so a "sign out everywhere" or lock since then leaves this
 * session dead from its first request.
 */
export async function startSession(
  req: Request,
  account: Account,
  remember: boolean,
  lifetime: SessionLifetime,
  sessions: Pick<UserSessions, 'start' | 'ended'>,
): Promise<void> {
  const sessionId = await sessions.start(account, remember, contextOf(req));
  try {
    // Passport regenerates the session here, so an ID planted before sign-in is worthless.
    await sessionStep('sign-in', (done) => req.logIn({ ...account, sessionId }, done));
  } catch (error) {
    // No session holds the row: it goes (or, if that fails too, is pruned at its idle timeout).
    await sessions.ended(account.id, sessionId).catch(() => {});
    throw error;
  }
  applyRememberMe(req, remember, lifetime);
}

/**
 * Whether a session holds a sign-in, made or begun (password accepted, factor not yet, or a
 * password reset's second factor passed): only
 * those are stored, and only those bind a form's CSRF token. A visitor's, or one emptied by a
 * cancelled or timed-out sign-in, a lifetime ended or "sign out everywhere" elsewhere, is not.
 */
export function holdsSignIn(session: Partial<SessionData> | undefined): boolean {
  const passport = (session as { passport?: { user?: unknown } } | undefined)?.passport;
  return Boolean(passport?.user) || session?.pendingSignIn !== undefined || session?.passwordResetPassed !== undefined;
}
