// "Confirm your password" before a sensitive change (GitHub's sudo mode): one confirmation lets
// such changes through for a few minutes. Only a password typed on this page counts, never the
// one typed at sign-in: a stolen session cookie is exactly what this step stands against.
import { Router, type RequestHandler, type Response } from 'express';
import type { AccountsService } from '../accounts/index.js';
import { contextOf } from '../audit/index.js';
import { parseForm, type FieldErrors } from '../core/forms.js';
import { confirmPasswordForm } from './forms/accounts.js';
import { nextFrom, requireSecondFactorPassed, requireSignedIn } from './guards.js';
import { ACCOUNT_LOCKED, tooManyPasswords, waitText } from './messages.js';
import { noStore, safeLocalPath } from './security.js';
import { flash } from './views.js';

declare module 'express-session' {
  interface SessionData {
    /** When this session last confirmed its password (ms since the epoch). */
    passwordConfirmedAt?: number;
  }
}

const CONFIRM_PATH = '/account/confirm-password';

/**
 * Lets a request through only within `maxAgeMs` of a password confirmation in this session.
 * Otherwise a page sends the person to the confirmation and back; a form sent without one
 * changes nothing and its page comes back after the confirmation (each guarded form posts to
 * the path of its own page). A session signed in on a remembered browser, which passed no
 * second factor, is sent to sign in again with one: the password and a copied cookie must not
 * be enough to change how the account signs in (add a passkey that outlives a password change).
 */
export function requireRecentPassword(maxAgeMs: number): RequestHandler {
  return (req, res, next) => {
    if (req.session.secondFactorSkipped) return requireSecondFactorPassed(req, res, next);
    const confirmedAt = req.session.passwordConfirmedAt;
    if (confirmedAt !== undefined && Date.now() - confirmedAt < maxAgeMs) return next();
    if (req.method !== 'GET')
      flash(req, { kind: 'error', text: 'Nothing was changed: confirm your password first, then try again.' });
    res.redirect(303, `${CONFIRM_PATH}?next=${encodeURIComponent(req.originalUrl)}`);
  };
}

export function passwordConfirmationRouter(deps: { accounts: AccountsService; maxAgeMs: number }): Router {
  const { accounts, maxAgeMs } = deps;
  const router = Router();

  function render(res: Response, status: number, next: string, errors: FieldErrors = {}): void {
    res.status(status).render('accounts/confirm-password', {
      title: 'Confirm your password',
      next,
      lasts: waitText(Math.round(maxAgeMs / 1000)),
      errors,
    });
  }

  router.use(CONFIRM_PATH, requireSignedIn, noStore);

  router.get(CONFIRM_PATH, (req, res) => {
    render(res, 200, nextFrom(req.query));
  });

  router.post(CONFIRM_PATH, async (req, res) => {
    const next = nextFrom(req.body);
    const form = parseForm(confirmPasswordForm, req.body);
    if (!form.ok) return render(res, 422, next, form.errors);
    const result = await accounts.confirmPassword(req.user!, form.data.password, contextOf(req));
    if (result.ok) {
      req.session.passwordConfirmedAt = Date.now();
      return res.redirect(303, safeLocalPath(next));
    }
    switch (result.reason) {
      case 'wrong_password':
        return render(res, 401, next, { password: 'That password is not right.' });
      case 'locked':
        return render(res, 403, next, { form: ACCOUNT_LOCKED });
      case 'rate_limited':
        res.set('Retry-After', String(result.retryAfterSeconds));
        return render(res, 429, next, { form: tooManyPasswords(result.retryAfterSeconds) });
    }
  });

  return router;
}
