// Signing in, as pages: the password step (/login), the factor step (/login/2fa: the code, a
// resend or a call, "Use another way"), and finishing into a signed-in session. The rules live
// in src/sign-in; these routes read the form, call it, and word its answers.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { contextOf } from '../audit/index.js';
import { parseForm, type FieldErrors } from '../core/forms.js';
import { regenerateSession, type SessionLifetime } from '../core/sessions.js';
import { maskPhone, type CheckReason, type FactorRefusal, type SendRefusal, type UserFactor } from '../factors/index.js';
import type { Account, PendingEnd, PendingSignIn, PendingSignInStore, PendingStep, SignInService } from '../sign-in/index.js';
import type { CodeStep, CodeStepPages } from './code-step.js';
import { afterChange, renderTooMany } from './errors.js';
import { codeForm } from './forms/phone.js';
import { signInForm, typedEmail } from './forms/accounts.js';
import { nextFrom, redirectIfSignedIn } from './guards.js';
import { ACCOUNT_LOCKED, CODE_MAY_BE_USED_UP, PENDING_ENDED, sendRefused, SIGN_IN_FAILED, tooManyAttempts } from './messages.js';
import { noStore, safeLocalPath } from './security.js';
import { startSession } from './session.js';
import { flash } from './views.js';

declare module 'express-session' {
  interface SessionData {
    /** Password accepted, factor not yet: grants nothing (see src/sign-in). */
    pendingSignIn?: PendingSignIn;
  }
}

const SIGN_IN_ACTIONS = {
  verify: '/login/2fa',
  resend: '/login/2fa/resend',
  call: '/login/2fa/call',
  cancel: '/login/2fa/cancel',
  cancelLabel: 'Cancel',
};
const CHOOSE_PATH = '/login/2fa/choose';

/** The pending sign-in of this session. */
function pendingStore(req: Request): PendingSignInStore {
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

function renderLogin(res: Response, status: number, values: { email: string; next: string; remember?: boolean }, errors: FieldErrors = {}): void {
  res.status(status).render('accounts/login', { title: 'Sign in', values, errors });
}

export function signInRouter(deps: { signIn: SignInService; codeStep: CodeStepPages; lifetime: SessionLifetime }): Router {
  const { signIn, codeStep, lifetime } = deps;
  const router = Router();

  async function finish(req: Request, res: Response, account: Account, method: string, signedIn: { remember: boolean; next: string }) {
    await signIn.recordSignIn(account, method, contextOf(req));
    await startSession(req, account, signedIn.remember, lifetime);
    res.redirect(303, safeLocalPath(signedIn.next));
  }

  /** Back to the password step, saying why when there is something to say. */
  function startAgain(req: Request, res: Response, ended: PendingEnd) {
    const text = PENDING_ENDED[ended];
    if (text) flash(req, { kind: 'error', text });
    res.redirect(303, '/login');
  }

  /** The code step of a pending sign-in, as its page shows it. */
  function stepOf(step: PendingStep): CodeStep {
    return {
      phone: step.factor.phoneNumber ?? '',
      sent: (step.pending.challenge as CodeStep['sent'] | undefined) ?? { sentAt: {} },
      actions: SIGN_IN_ACTIONS,
      heading: 'Enter your code',
      signingIn: true,
      otherWays: step.account.factors.length > 1 ? CHOOSE_PATH : undefined,
    };
  }

  /** Reads the pending sign-in back; undefined after sending the person to the password step. */
  async function resumed(req: Request, res: Response): Promise<PendingStep | undefined> {
    const result = await signIn.resume(pendingStore(req), contextOf(req));
    if (result.ok) return result.step;
    startAgain(req, res, result.ended);
    return undefined;
  }

  // ---- The password step ----------------------------------------------------------------------

  router.get('/login', redirectIfSignedIn, (req, res) => {
    renderLogin(res, 200, { email: '', next: nextFrom(req.query) });
  });

  router.post('/login', async (req, res) => {
    const values = { email: typedEmail(req.body), next: nextFrom(req.body), remember: false };
    const form = parseForm(signInForm, req.body);
    if (!form.ok) {
      // Only missing fields get their own message; anything else is the one generic failure.
      const missing = Object.fromEntries(Object.entries(form.errors).filter(([, message]) => message.startsWith('Enter your')));
      if (Object.keys(missing).length) return renderLogin(res, 422, values, missing);
      return renderLogin(res, 401, values, { form: SIGN_IN_FAILED });
    }
    values.remember = form.data.remember;
    const { email, password, remember, next } = form.data;
    const result = await signIn.password(pendingStore(req), { email, password, remember, next }, contextOf(req));
    if (!result.ok) {
      switch (result.reason) {
        case 'rate_limited':
          return renderTooMany(res, result.retryAfterSeconds, tooManyAttempts(result.retryAfterSeconds));
        // Said only to someone who knows the password, so it reveals nothing to a guesser.
        case 'locked':
          return renderLogin(res, 403, values, { form: ACCOUNT_LOCKED });
        case 'wrong_credentials':
          return renderLogin(res, 401, values, { form: SIGN_IN_FAILED });
      }
    }
    if ('signedIn' in result) return finish(req, res, result.signedIn, result.method, { remember, next });
    // Phone is the only kind yet: a factor step that did not begin is a code that did not go out.
    if (!result.begun.ok) firstSendFailed(req, res, result.begun as SendRefusal);
    res.redirect(303, SIGN_IN_ACTIONS.verify);
  });

  /** The step's first code did not go out: the code page says so, with what to do. */
  function firstSendFailed(req: Request, res: Response, refusal: SendRefusal) {
    if (refusal.retryAfterSeconds) res.set('Retry-After', String(refusal.retryAfterSeconds));
    flash(req, { kind: 'error', text: sendRefused(refusal) });
  }

  // ---- The factor step ------------------------------------------------------------------------

  router.get('/login/2fa', noStore, async (req, res) => {
    const step = await resumed(req, res);
    if (step) codeStep.render(res, 200, stepOf(step));
  });

  router.post('/login/2fa', noStore, async (req, res) => {
    const step = await resumed(req, res);
    if (!step) return;
    const form = parseForm(codeForm, req.body);
    if (!form.ok) return codeStep.render(res, 422, stepOf(step), form.errors);
    await afterChange(CODE_MAY_BE_USED_UP.signIn, async () => {
      const result = await signIn.verify(pendingStore(req), contextOf(req), form.data.code);
      if (result.ok) return finish(req, res, result.signedIn, result.method, result);
      if (result.ended) return startAgain(req, res, result.ended);
      codeStep.checkRefused(res, stepOf(step), result as FactorRefusal<CheckReason>);
    });
  });

  const again =
    (via: 'sms' | 'call'): RequestHandler =>
    async (req, res) => {
      const result = await signIn.again(pendingStore(req), contextOf(req), via);
      if (!result.ok) return startAgain(req, res, result.ended);
      if (!result.begun.ok) return codeStep.sendRefused(res, stepOf(result.step), result.begun as SendRefusal);
      res.redirect(303, SIGN_IN_ACTIONS.verify);
    };
  router.post('/login/2fa/resend', noStore, again('sms'));
  router.post('/login/2fa/call', noStore, again('call'));

  router.post('/login/2fa/cancel', (req, res) => {
    signIn.cancel(pendingStore(req));
    res.redirect(303, '/login');
  });

  // ---- "Use another way" ----------------------------------------------------------------------

  router.get(CHOOSE_PATH, noStore, async (req, res) => {
    const step = await resumed(req, res);
    if (!step) return;
    res.render('sign-in/choose', {
      title: 'Use another way',
      current: step.factor.id,
      factors: step.account.factors.map((factor) => ({ id: factor.id, label: factorLabel(factor) })),
    });
  });

  router.post(CHOOSE_PATH, noStore, async (req, res) => {
    const factorId = typeof (req.body as { factor?: unknown }).factor === 'string' ? (req.body as { factor: string }).factor : '';
    const result = await signIn.choose(pendingStore(req), contextOf(req), factorId);
    if (!result.ok) {
      if (result.ended === 'no_such_factor') return res.redirect(303, CHOOSE_PATH);
      return startAgain(req, res, result.ended);
    }
    if (!result.begun.ok) firstSendFailed(req, res, result.begun as SendRefusal);
    res.redirect(303, SIGN_IN_ACTIONS.verify);
  });

  return router;
}

/** How a factor is offered among the ways to sign in. */
function factorLabel(factor: UserFactor): string {
  return factor.label ?? `Send a code to ${maskPhone(factor.phoneNumber ?? '')}`;
}
