// The signed-in session, started once a sign-in is granted (by the sign-in steps, or at sign-up).
import { createHash, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import type { SessionData } from 'express-session';
import { REMEMBER_BROWSER_MS, type UserSessions } from '../accounts/index.js';
import { contextOf } from '../audit/index.js';
import { applyRememberMe, regenerateSession, sessionStep, type SessionLifetime } from '../core/sessions.js';
import { PASSKEY_CHALLENGE_MS, type IssuedChallenge } from '../factors/index.js';
import type { Account, PendingSignIn, PendingSignInStore } from '../sign-in/index.js';
import { cookieName } from './security.js';

/** A browser's own id lasts as long as browsers keep a cookie (Chrome: 400 days). */
const BROWSER_ID_MS = 400 * 86_400_000;
const BROWSER_ID = /^[A-Za-z0-9_-]{22}$/;

/** A cookie of this browser's own, signed with the session secrets, out of the pages' scripts' reach. */
function ownCookie(req: Request, base: string) {
  const secure = req.app.get('env') === 'production';
  const name = cookieName(base, secure);
  const value: unknown = (req.signedCookies as Record<string, unknown> | undefined)?.[name];
  return { name, value, options: { signed: true, httpOnly: true, sameSite: 'lax' as const, secure, path: '/' } };
}

/**
 * This browser, as sign-ins record it: a hash of a random id kept in a signed cookie of its own,
 * made at its first sign-in (so "a browser new to the account" means this very browser, not its
 * make, which anyone can copy). The id itself is never stored.
 */
export function browserOf(req: Request, res: Response): string {
  const cookie = ownCookie(req, 'tfa.browser');
  let id = cookie.value;
  if (typeof id !== 'string' || !BROWSER_ID.test(id)) {
    id = randomBytes(16).toString('base64url');
    res.cookie(cookie.name, id, { ...cookie.options, maxAge: BROWSER_ID_MS });
  }
  return createHash('sha256')
    .update(`browser ${id as string}`)
    .digest('base64url')
    .slice(0, 22);
}

const PASSKEY_CHALLENGE = /^(\d{1,15})\.([A-Za-z0-9_-]{16,128})$/;

/**
 * "Sign in with a passkey" comes before any session (a visitor's is never stored): its challenge
 * is kept in a signed cookie of this browser for as long as it may be answered, so the answer
 * must come from the browser the page was shown to. Each /login page makes a new one. Its single
 * use is the passkey factor's to enforce (a replay is refused even in parallel).
 */
export function keepPasskeyChallenge(req: Request, res: Response, challenge: IssuedChallenge): void {
  const cookie = ownCookie(req, 'tfa.passkey');
  res.cookie(cookie.name, `${challenge.issuedAt}.${challenge.challenge}`, {
    ...cookie.options,
    maxAge: PASSKEY_CHALLENGE_MS,
  });
}

/** The challenge kept by keepPasskeyChallenge, forgotten by the browser now, whatever comes of its answer. */
export function takePasskeyChallenge(req: Request, res: Response): IssuedChallenge | undefined {
  const cookie = ownCookie(req, 'tfa.passkey');
  const { signed: _signed, ...options } = cookie.options;
  res.clearCookie(cookie.name, options);
  const kept = typeof cookie.value === 'string' ? PASSKEY_CHALLENGE.exec(cookie.value) : null;
  return kept ? { issuedAt: Number(kept[1]), challenge: kept[2]! } : undefined;
}

/**
 * A browser several people sign in on keeps a token for each account it remembers, newest
 * first, in one cookie ("t1.t2"): which token is whose is known only to the server, and a few
 * are kept, so one person's "Don't ask again" does not push out another's.
 */
const REMEMBERED_TOKENS_KEPT = 5;

const rememberedCookie = (req: Request) => cookieName('tfa.remember', req.app.get('env') === 'production');

/** The tokens this browser's "Don't ask again" cookie holds (the sign-in judges them). */
export function rememberedTokens(req: Request): string[] {
  const value = (req.cookies as Record<string, unknown> | undefined)?.[rememberedCookie(req)];
  return typeof value === 'string' ? value.split('.').slice(0, REMEMBERED_TOKENS_KEPT) : [];
}

/**
 * Writes the cookie with these tokens, or clears it when there are none: HttpOnly, SameSite=Lax,
 * and in production Secure under the __Host- prefix; it lasts as long as a remembered browser.
 */
export function keepRememberedTokens(req: Request, res: Response, tokens: string[]): void {
  const secure = req.app.get('env') === 'production';
  const options = { httpOnly: true, sameSite: 'lax', secure, path: '/' } as const;
  if (!tokens.length) {
    res.clearCookie(rememberedCookie(req), options);
    return;
  }
  const value = [...new Set(tokens)].slice(0, REMEMBERED_TOKENS_KEPT).join('.');
  res.cookie(rememberedCookie(req), value, { ...options, maxAge: REMEMBER_BROWSER_MS });
}

declare module 'express-session' {
  interface SessionData {
    /** Password accepted, factor not yet: grants nothing (see src/sign-in). */
    pendingSignIn?: PendingSignIn;
    /** The second factor a password reset asks for was passed, for the link with this hash. */
    passwordResetPassed?: { linkHash: string; at: number };
    /** This session signed in on a remembered browser: no second factor was asked of it. */
    secondFactorSkipped?: boolean;
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
