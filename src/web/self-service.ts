// Account self-service pages: "Forgot password?" and the reset link, "Change password", the
// email address (verification link, a change confirmed from the new address), and mail about
// new browsers. The rules live in src/accounts; these routes read the form, call it, and word
// its answers.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { contextOf } from '../audit/index.js';
import {
  PASSWORD_RESET_MINUTES,
  type AccountsService,
  type SelfService,
  type UserSessions,
} from '../accounts/index.js';
import { parseForm, type FieldErrors } from '../core/forms.js';
import type { SessionLifetime } from '../core/sessions.js';
import type { SignInService } from '../sign-in/index.js';
import { afterChange, renderTooMany } from './errors.js';
import {
  changeEmailForm,
  changePasswordForm,
  forgotPasswordForm,
  noticesForm,
  resetPasswordForm,
  typedEmail,
} from './forms/accounts.js';
import { answerSignedOut, requireSecondFactorPassed, requireSignedIn } from './guards.js';
import {
  ACCOUNT_LOCKED,
  ALREADY_VERIFIED,
  EMAIL_CHANGE_SENT,
  EMAIL_CHANGED,
  EMAIL_NOW_TAKEN,
  EMAIL_VERIFIED,
  LINK_INVALID,
  NEW_BROWSER_MAIL_OFF,
  NEW_BROWSER_MAIL_ON,
  PASSWORD_CHANGED,
  PASSWORD_RESET_DONE,
  RESET_LINK_SENT,
  SAME_EMAIL,
  signUpProblems,
  tooManyAttempts,
  tooManyMails,
  VERIFICATION_SENT,
  WRONG_CURRENT_PASSWORD,
} from './messages.js';
import { noStore } from './security.js';
import { pendingStore, startSession } from './session.js';
import { flash } from './views.js';

/** The link that failed: gone for good (410), with the way to ask for a new one. */
function renderLinkInvalid(res: Response, again: { href: string; label: string }): void {
  res.status(410).render('accounts/link-invalid', { title: 'This link no longer works', message: LINK_INVALID, again });
}

const RESET_AGAIN = { href: '/forgot-password', label: 'Ask for a new reset link' };
const ACCOUNT_AGAIN = { href: '/account', label: 'Go to your account' };

export function selfServiceRouter(deps: {
  accounts: AccountsService;
  selfService: SelfService;
  signIn: SignInService;
  lifetime: SessionLifetime;
  /** The rows of "Your sessions": a changed password starts this session again. */
  sessions: Pick<UserSessions, 'start' | 'ended'>;
  requireRecentPassword: RequestHandler;
  /** How long a reset's second factor, once passed, lets the new password be chosen (SECOND_FACTOR_MINUTES). */
  factorPassedForMs: number;
}): Router {
  const { accounts, selfService, signIn, lifetime, sessions, requireRecentPassword, factorPassedForMs } = deps;
  const router = Router();

  // ---- Forgot password ------------------------------------------------------------------------

  const renderForgot = (res: Response, status: number, email: string, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/forgot-password', { title: 'Reset your password', email, errors });

  router.get('/forgot-password', (_req, res) => renderForgot(res, 200, ''));

  router.post('/forgot-password', async (req, res) => {
    const form = parseForm(forgotPasswordForm, req.body);
    if (!form.ok) return renderForgot(res, 422, typedEmail(req.body), form.errors);
    const result = await selfService.requestPasswordReset(form.data.email, contextOf(req));
    if (!result.ok) return renderTooMany(res, result.retryAfterSeconds, tooManyAttempts(result.retryAfterSeconds));
    res.render('accounts/reset-sent', {
      title: 'Check your email',
      message: RESET_LINK_SENT(form.data.email, PASSWORD_RESET_MINUTES),
    });
  });

  // ---- The reset link ---------------------------------------------------------------------------

  router.use('/reset-password/:token', noStore);

  /** The link's hash, when this session passed the reset's second factor for it lately. */
  function factorPassedFor(req: Request): string | undefined {
    const passed = req.session.passwordResetPassed;
    return passed && Date.now() - passed.at <= factorPassedForMs ? passed.linkHash : undefined;
  }

  const renderReset = (req: Request, res: Response, status: number, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/reset-password', {
      title: 'Choose a new password',
      action: req.originalUrl.split('?')[0],
      errors,
    });

  router.get('/reset-password/:token', async (req, res) => {
    const target = await selfService.resetTarget(req.params.token);
    if (!target) return renderLinkInvalid(res, RESET_AGAIN);
    if (target.needsSecondFactor && factorPassedFor(req) !== target.tokenHash)
      return res.render('accounts/reset-second-factor', {
        title: 'Confirm it is you',
        action: `/reset-password/${req.params.token}/second-factor`,
      });
    renderReset(req, res, 200);
  });

  // A POST, not the link itself, starts the second factor: mail scanners that open links send no code.
  router.post('/reset-password/:token/second-factor', async (req, res) => {
    const { token } = req.params;
    const target = await selfService.resetTarget(token);
    if (!target) return renderLinkInvalid(res, RESET_AGAIN);
    const started = target.needsSecondFactor
      ? await signIn.secondFactorForReset(
          pendingStore(req),
          target.userId,
          { linkHash: target.tokenHash, next: `/reset-password/${token}` },
          contextOf(req),
        )
      : undefined;
    // No factor (anymore): straight to the new password. A code that did not go out is said on the code step.
    res.redirect(303, started ? '/login/2fa' : `/reset-password/${token}`);
  });

  router.post('/reset-password/:token', async (req, res) => {
    const form = parseForm(resetPasswordForm, req.body);
    if (!form.ok) return renderReset(req, res, 422, form.errors);
    const result = await selfService.resetPassword(req.params.token, form.data, factorPassedFor(req), contextOf(req));
    if (!result.ok) {
      switch (result.reason) {
        case 'invalid_link':
          return renderLinkInvalid(res, RESET_AGAIN);
        case 'second_factor_required':
          return res.redirect(303, `/reset-password/${req.params.token}`);
        case 'weak_password':
          return renderReset(req, res, 422, signUpProblems(result.problems));
      }
    }
    // Every session of the account ended with the reset, and this browser holds nothing more.
    delete req.session.passwordResetPassed;
    flash(req, { kind: 'success', text: PASSWORD_RESET_DONE });
    res.redirect(303, '/login');
  });

  // ---- Change password --------------------------------------------------------------------------

  // A new password changes how the account signs in: not on the password and a remembered browser alone.
  router.use('/account/password', requireSignedIn, noStore, requireSecondFactorPassed);

  const renderChangePassword = (res: Response, status: number, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/change-password', { title: 'Change password', errors });

  router.get('/account/password', (_req, res) => renderChangePassword(res, 200));

  router.post('/account/password', async (req, res) => {
    const form = parseForm(changePasswordForm, req.body);
    if (!form.ok) return renderChangePassword(res, 422, form.errors);
    const result = await accounts.changePassword(req.user!, form.data, contextOf(req));
    if (!result.ok) {
      switch (result.reason) {
        case 'rate_limited':
          return renderTooMany(res, result.retryAfterSeconds, tooManyAttempts(result.retryAfterSeconds));
        case 'locked':
          return renderChangePassword(res, 403, { form: ACCOUNT_LOCKED });
        case 'signed_out':
          return answerSignedOut(req, res);
        case 'wrong_password':
          return renderChangePassword(res, 401, { currentPassword: WRONG_CURRENT_PASSWORD });
        case 'weak_password':
          return renderChangePassword(res, 422, signUpProblems(result.problems));
      }
    }
    // Every session ended with the change; this one starts again, on the new generation.
    await afterChange(PASSWORD_CHANGED, async () => {
      // Read without a session of its own: this session's row went with the others.
      const account = await signIn.signedInAccount(result.user.id, result.user.sessionGeneration, null);
      if (account) await startSession(req, account, req.session.rememberMe === true, lifetime, sessions);
    });
    flash(req, { kind: 'success', text: PASSWORD_CHANGED });
    res.redirect(303, req.user ? '/account' : '/login');
  });

  // ---- The email address --------------------------------------------------------------------------

  router.post('/account/email/verify', requireSignedIn, async (req, res) => {
    const result = await selfService.resendVerification(req.user!, contextOf(req));
    if (!result.ok && result.reason === 'signed_out') return answerSignedOut(req, res);
    if (!result.ok && result.reason === 'rate_limited')
      return renderTooMany(res, result.retryAfterSeconds, tooManyMails(result.retryAfterSeconds));
    flash(req, { kind: 'info', text: result.ok ? VERIFICATION_SENT : ALREADY_VERIFIED });
    res.redirect(303, '/account');
  });

  /** A link's page: says what the link does, and a button does it (mail scanners only open links). */
  const renderConfirmLink = (req: Request, res: Response, page: { title: string; text: string; button: string }) =>
    res.render('accounts/confirm-link', { ...page, action: req.originalUrl.split('?')[0] });

  router.use('/verify-email/:token', noStore);

  router.get('/verify-email/:token', async (req, res) => {
    const target = await selfService.verificationTarget(req.params.token);
    if (!target) return renderLinkInvalid(res, ACCOUNT_AGAIN);
    renderConfirmLink(req, res, {
      title: 'Confirm your email address',
      text: `Confirm that ${target.email} is your email address.`,
      button: 'Confirm my email address',
    });
  });

  router.post('/verify-email/:token', async (req, res) => {
    const result = await selfService.verifyEmail(req.params.token, contextOf(req));
    if (!result.ok) return renderLinkInvalid(res, ACCOUNT_AGAIN);
    flash(req, { kind: 'success', text: EMAIL_VERIFIED });
    res.redirect(303, req.user ? '/account' : '/login');
  });

  const renderChangeEmail = (res: Response, status: number, email: string, errors: FieldErrors = {}) =>
    res.status(status).render('accounts/change-email', { title: 'Change email address', email, errors });

  router.use('/account/email', requireSignedIn, noStore);
  router.get('/account/email', requireRecentPassword, (_req, res) => renderChangeEmail(res, 200, ''));

  router.post('/account/email', requireRecentPassword, async (req, res) => {
    const form = parseForm(changeEmailForm, req.body);
    if (!form.ok) return renderChangeEmail(res, 422, typedEmail(req.body), form.errors);
    const result = await selfService.requestEmailChange(req.user!, form.data.email, contextOf(req));
    if (!result.ok) {
      if (result.reason === 'same_email') return renderChangeEmail(res, 422, form.data.email, { email: SAME_EMAIL });
      if (result.reason === 'signed_out') return answerSignedOut(req, res);
      return renderTooMany(res, result.retryAfterSeconds, tooManyMails(result.retryAfterSeconds));
    }
    flash(req, { kind: 'info', text: EMAIL_CHANGE_SENT(form.data.email) });
    res.redirect(303, '/account');
  });

  // Opened from the new address's mailbox, maybe on another device: the link alone is enough.
  router.use('/confirm-email/:token', noStore);

  router.get('/confirm-email/:token', async (req, res) => {
    const target = await selfService.emailChangeTarget(req.params.token);
    if (!target) return renderLinkInvalid(res, ACCOUNT_AGAIN);
    renderConfirmLink(req, res, {
      title: 'Confirm your new email address',
      text: `Confirm that your account's email address becomes ${target.email}.`,
      button: 'Confirm my new email address',
    });
  });

  router.post('/confirm-email/:token', async (req, res) => {
    const target = await selfService.emailChangeTarget(req.params.token);
    const result = await selfService.confirmEmailChange(req.params.token, contextOf(req));
    if (!result.ok) {
      if (result.reason === 'taken')
        return res.status(409).render('accounts/link-invalid', {
          title: 'This address is taken',
          message: EMAIL_NOW_TAKEN,
          again: ACCOUNT_AGAIN,
        });
      return renderLinkInvalid(res, ACCOUNT_AGAIN);
    }
    flash(req, { kind: 'success', text: EMAIL_CHANGED(target?.email ?? 'confirmed') });
    res.redirect(303, req.user ? '/account' : '/login');
  });

  // ---- Mail about sign-ins ------------------------------------------------------------------------

  router.post('/account/notices', requireSignedIn, async (req, res) => {
    const form = parseForm(noticesForm, req.body);
    const on = form.ok && form.data.newBrowser;
    await selfService.setNewBrowserNotices(req.user!.id, on, contextOf(req));
    flash(req, {
      kind: 'success',
      text: on ? NEW_BROWSER_MAIL_ON : NEW_BROWSER_MAIL_OFF,
    });
    res.redirect(303, '/account');
  });

  return router;
}
