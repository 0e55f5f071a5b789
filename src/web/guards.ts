// Who may see a page: checked before any route that needs it.
import type { Request, RequestHandler, Response } from 'express';
import { VERIFY_EMAIL_FIRST } from './messages.js';
import { safeLocalPath } from './security.js';
import { flash } from './views.js';

/** To the sign-in page, remembering where the visitor was going. */
function toSignIn(req: Request, res: Response): void {
  res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
}

/** Sends anonymous visitors to the sign-in page, remembering where they were going. */
export const requireSignedIn: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  toSignIn(req, res);
};

/**
 * A service refused the change because this session ended while the request ran (a "sign out
 * everywhere" made first): answered as any request of an ended session. Its next request finds
 * it signed out.
 */
export const answerSignedOut = toSignIn;

/** Sends someone already signed in on to where they were going. */
export const redirectIfSignedIn: RequestHandler = (req, res, next) => {
  if (!req.user) return next();
  res.redirect(303, safeLocalPath(req.query.next));
};

/** Where a session that skipped the second factor (a remembered browser) goes before a sensitive change. */
export const SECOND_FACTOR_AGAIN_PATH = '/account/second-factor';

/**
 * Sends a session signed in on a remembered browser, which passed no second factor, to sign in
 * again with one: the password and a copied cookie must not be enough to change how the account
 * signs in (its password, its factors: a passkey outlives a password change) or to reach the
 * admin area. A form sent changes nothing, and says so.
 */
export const requireSecondFactorPassed: RequestHandler = (req, res, next) => {
  if (!req.session.secondFactorSkipped) return next();
  if (req.method !== 'GET')
    flash(req, { kind: 'error', text: 'Nothing was changed: sign in with your second factor first.' });
  res.redirect(303, `${SECOND_FACTOR_AGAIN_PATH}?next=${encodeURIComponent(req.originalUrl)}`);
};

/** The `next` of a query or a form, when it is a path on this site; '' otherwise. */
export function nextFrom(source: unknown): string {
  const next = (source as { next?: unknown } | undefined)?.next;
  return typeof next === 'string' ? safeLocalPath(next, '') : '';
}

/** Keeps an account whose email is not confirmed out (REQUIRE_VERIFIED_EMAIL), saying what to do. */
export const requireVerifiedEmail: RequestHandler = (req, res, next) => {
  if (!req.user || req.user.emailVerified) return next();
  flash(req, { kind: 'error', text: VERIFY_EMAIL_FIRST });
  res.redirect(303, '/account');
};
