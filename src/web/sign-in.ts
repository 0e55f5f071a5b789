// Signing in, as pages: the password step (/login), "Sign in with a passkey" (/login/passkey, no
// password), the factor step (/login/2fa: the code, a resend or a call, "Use another way"), and
// finishing into a signed-in session. The rules live in src/sign-in; these routes read the form,
// call it, and word its answers.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { UserSessions } from '../accounts/index.js';
import { contextOf } from '../audit/index.js';
import { parseForm, type FieldErrors } from '../core/forms.js';
import type { SessionLifetime } from '../core/sessions.js';
import {
  RECOVERY_CODES_KIND,
  type FactorRefusal,
  type RecoveryCodeReason,
  type RecoveryCodesFactor,
  type UserFactor,
} from '../factors/index.js';
import {
  mayRememberBrowser,
  REMEMBERED_BROWSER_METHOD,
  type Account,
  type AnswerOptions,
  type BrowserRemembered,
  type PendingEnd,
  type PendingStep,
  type SignInService,
} from '../sign-in/index.js';
import { RECOVERY_CODE_PATH, recoveryCodePath, type SignInStepPage } from './code-step.js';
import { afterChange, renderTooMany } from './errors.js';
import { codeForm as answerForm } from './forms/phone.js';
import { signInForm, typedEmail } from './forms/accounts.js';
import { passwordlessForm } from './forms/passkeys.js';
import { chooseForm, rememberBrowserForm } from './forms/sign-in.js';
import { recoveryCodeForm } from './forms/recovery-codes.js';
import { nextFrom, redirectIfSignedIn } from './guards.js';
import {
  ABOUT_THE_RECOVERY_CODE,
  ACCOUNT_LOCKED,
  CODE_MAY_BE_USED_UP,
  PASSKEY_STATUS,
  PASSWORDLESS_NEEDS_JAVASCRIPT,
  passwordlessRefused,
  PENDING_ENDED,
  recoveryCodeRefused,
  recoveryCodesLeft,
  SIGN_IN_FAILED,
  STATUS,
  tooManyAttempts,
} from './messages.js';
import { noStore, safeLocalPath } from './security.js';
import {
  browserOf,
  keepPasskeyChallenge,
  keepRememberedTokens,
  pendingStore,
  rememberedTokens,
  startSession,
  takePasskeyChallenge,
} from './session.js';
import { flash } from './views.js';

const VERIFY_PATH = '/login/2fa';
const CHOOSE_PATH = '/login/2fa/choose';

export function signInRouter(deps: {
  signIn: SignInService;
  /** The signed-in sessions' rows: one is made for each sign-in. */
  sessions: Pick<UserSessions, 'start' | 'ended'>;
  /** The step page of each factor kind, by kind. */
  steps: Record<string, SignInStepPage>;
  lifetime: SessionLifetime;
  /** How many recovery codes a person has left, said after signing in with one. */
  recoveryCodes: Pick<RecoveryCodesFactor, 'remaining'>;
}): Router {
  const { signIn, sessions, steps, lifetime, recoveryCodes } = deps;
  const router = Router();

  /** The sign-in page, with a new challenge for "Sign in with a passkey" kept in this browser. */
  async function renderLogin(
    req: Request,
    res: Response,
    status: number,
    values: { email: string; next: string; remember?: boolean },
    errors: FieldErrors = {},
  ): Promise<void> {
    const challenge = await signIn.passkeyChallenge();
    keepPasskeyChallenge(req, res, challenge);
    res.status(status).render('accounts/login', {
      title: 'Sign in',
      values,
      errors,
      passkeyOptions: JSON.stringify(challenge.options),
      passkeyNeedsJavaScript: PASSWORDLESS_NEEDS_JAVASCRIPT,
    });
  }

  async function finish(
    req: Request,
    res: Response,
    account: Account,
    method: string,
    signedIn: {
      remember: boolean;
      next: string;
      passwordReset?: string;
      rememberedBrowser?: BrowserRemembered;
      amr?: string[];
    },
    note?: { kind: 'info' | 'error'; text: string },
  ) {
    // The second factor a password reset asked for: proven for that reset link, no one signed in.
    if (signedIn.passwordReset) {
      req.session.passwordResetPassed = { linkHash: signedIn.passwordReset, at: Date.now() };
      return res.redirect(303, safeLocalPath(signedIn.next));
    }
    await signIn.recordSignIn(account, method, contextOf(req), { browser: browserOf(req, res) }, signedIn.amr);
    await startSession(req, account, signedIn.remember, lifetime, sessions);
    // No second factor was asked of this session: changes to how the person signs in ask for one.
    if (method === REMEMBERED_BROWSER_METHOD) req.session.secondFactorSkipped = true;
    if (signedIn.rememberedBrowser)
      keepRememberedTokens(req, res, [signedIn.rememberedBrowser.token, ...rememberedTokens(req)]);
    // After startSession: the signed-in session is a new one.
    if (note) flash(req, note);
    res.redirect(303, safeLocalPath(signedIn.next));
  }

  /** Back to the password step, saying why when there is something to say. */
  function startAgain(req: Request, res: Response, ended: PendingEnd) {
    const text = PENDING_ENDED[ended];
    if (text) flash(req, { kind: 'error', text });
    res.redirect(303, '/login');
  }

  /** How a factor is offered among the ways to sign in: its kind's page says. */
  function choiceOf(factor: UserFactor) {
    const page = steps[factor.kind];
    const fallback = factor.label ?? factor.kind;
    return { id: factor.id, name: page?.name(factor) ?? fallback, ways: page?.ways(factor) ?? [{ label: fallback }] };
  }

  /** How the page of the step's factor kind is shown. */
  function pageOf(step: PendingStep): { page: SignInStepPage; otherWays: string | undefined } {
    const page = steps[step.factor.kind];
    if (!page) throw new Error(`no sign-in page for factors of kind ${step.factor.kind}`);
    // Ways back in (recovery codes) have a link of their own, not a place among the choices.
    return { page, otherWays: choices(step).length > 1 ? CHOOSE_PATH : undefined };
  }

  /**
   * Whether "Don't ask again on this browser" was ticked with the answer; the box stays as it
   * was when the step's page is shown again.
   */
  function rememberBrowserOf(req: Request, res: Response): AnswerOptions {
    const form = parseForm(rememberBrowserForm, req.body);
    const rememberBrowser = form.ok && form.data.rememberBrowser;
    res.locals.rememberBrowser = rememberBrowser;
    return { rememberBrowser };
  }

  /** What every page of a step shows by its state: whether it is a password reset's, not a sign-in, and whether "Don't ask again" is offered. */
  function stepLocals(res: Response, step: PendingStep) {
    res.locals.forPasswordReset = step.pending.passwordReset !== undefined;
    res.locals.rememberBrowserOffered = mayRememberBrowser(step.account, step.pending);
  }

  /** Reads the pending sign-in back; undefined after sending the person to the password step. */
  async function resumed(req: Request, res: Response): Promise<PendingStep | undefined> {
    const result = await signIn.resume(pendingStore(req), contextOf(req));
    if (result.ok) {
      stepLocals(res, result.step);
      return result.step;
    }
    startAgain(req, res, result.ended);
    return undefined;
  }

  // ---- The password step ----------------------------------------------------------------------

  router.get('/login', redirectIfSignedIn, noStore, (req, res) =>
    renderLogin(req, res, 200, { email: '', next: nextFrom(req.query) }),
  );

  router.post('/login', async (req, res) => {
    const values = { email: typedEmail(req.body), next: nextFrom(req.body), remember: false };
    const form = parseForm(signInForm, req.body);
    if (!form.ok) {
      // Only missing fields get their own message; anything else is the one generic failure.
      const missing = Object.fromEntries(
        Object.entries(form.errors).filter(([, message]) => message.startsWith('Enter your')),
      );
      if (Object.keys(missing).length) return renderLogin(req, res, 422, values, missing);
      return renderLogin(req, res, 401, values, { form: SIGN_IN_FAILED });
    }
    values.remember = form.data.remember;
    const { email, password, remember, next } = form.data;
    const result = await signIn.password(
      pendingStore(req),
      { email, password, remember, next, rememberedBrowser: rememberedTokens(req) },
      contextOf(req),
    );
    if (!result.ok) {
      switch (result.reason) {
        case 'rate_limited':
          return renderTooMany(res, result.retryAfterSeconds, tooManyAttempts(result.retryAfterSeconds));
        // Said only to someone who knows the password, so it reveals nothing to a guesser.
        case 'locked':
          return renderLogin(req, res, 403, values, { form: ACCOUNT_LOCKED });
        case 'wrong_credentials':
          return renderLogin(req, res, 401, values, { form: SIGN_IN_FAILED });
      }
    }
    if ('signedIn' in result) return finish(req, res, result.signedIn, result.method, { remember, next });
    if (!result.begun.ok) beginFailed(req, res, result.pending.factorKind, result.begun);
    res.redirect(303, VERIFY_PATH);
  });

  // ---- "Sign in with a passkey": no password ---------------------------------------------------

  router.post('/login/passkey', noStore, async (req, res) => {
    const values = { email: '', next: nextFrom(req.body), remember: false };
    // Used once, whatever comes of this answer.
    const challenge = takePasskeyChallenge(req, res);
    const form = parseForm(passwordlessForm, req.body);
    if (!form.ok) return renderLogin(req, res, 422, values, { form: Object.values(form.errors)[0] ?? '' });
    const { credential, remember, next } = form.data;
    values.remember = remember;
    const result = await signIn.passkey({ challenge, answer: credential }, contextOf(req));
    if (result.ok) return finish(req, res, result.signedIn, result.method, { remember, next, amr: result.amr });
    switch (result.reason) {
      case 'rate_limited':
        return renderTooMany(res, result.retryAfterSeconds, tooManyAttempts(result.retryAfterSeconds));
      case 'account_locked':
        return renderLogin(req, res, 403, values, { form: ACCOUNT_LOCKED });
      default:
        if (result.retryAfterSeconds) res.set('Retry-After', String(result.retryAfterSeconds));
        return renderLogin(req, res, PASSKEY_STATUS[result.reason], values, { form: passwordlessRefused(result) });
    }
  });

  /** The step could not begin (its first code did not go out): the step's page says so, with what to do. */
  function beginFailed(req: Request, res: Response, kind: string, refusal: FactorRefusal) {
    const said = steps[kind]?.beginRefused(refusal);
    if (!said) return;
    if (said.retryAfterSeconds) res.set('Retry-After', String(said.retryAfterSeconds));
    flash(req, { kind: 'error', text: said.text });
  }

  // ---- The factor step ------------------------------------------------------------------------

  router.get('/login/2fa', noStore, async (req, res) => {
    let step = await resumed(req, res);
    if (!step) return;
    if (steps[step.factor.kind]?.needsBegin?.(step)) {
      // A new challenge (a passkey's, used or past its time) before the page shows it.
      const again = await signIn.again(pendingStore(req), contextOf(req), '');
      if (!again.ok) return startAgain(req, res, again.ended);
      step = again.step;
    }
    const { page, otherWays } = pageOf(step);
    page.render(res, 200, step, otherWays);
  });

  router.post('/login/2fa', noStore, async (req, res) => {
    const step = await resumed(req, res);
    if (!step) return;
    const { page, otherWays } = pageOf(step);
    const options = rememberBrowserOf(req, res);
    const form = parseForm(page.answerForm ?? answerForm, req.body);
    if (!form.ok) return page.render(res, 422, step, otherWays, form.errors);
    await afterChange(CODE_MAY_BE_USED_UP.signIn, async () => {
      const result = await signIn.verify(pendingStore(req), contextOf(req), form.data.code, options, step);
      if (result.ok) return finish(req, res, result.signedIn, result.method, result);
      if (result.ended) return startAgain(req, res, result.ended);
      // What the step remembers now (a passkey's new challenge), for the page shown again.
      const now = pendingStore(req).read();
      page.verifyRefused(res, now ? { ...step, pending: now } : step, otherWays, result);
    });
  });

  const again =
    (via: 'sms' | 'call'): RequestHandler =>
    async (req, res) => {
      const result = await signIn.again(pendingStore(req), contextOf(req), via);
      if (!result.ok) return startAgain(req, res, result.ended);
      if (!result.begun.ok) {
        stepLocals(res, result.step);
        const { page, otherWays } = pageOf(result.step);
        return page.againRefused(res, result.step, otherWays, result.begun);
      }
      res.redirect(303, VERIFY_PATH);
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
      factors: choices(step).map(choiceOf),
      recoveryCode: recoveryCodePath(step),
    });
  });

  router.post(CHOOSE_PATH, noStore, async (req, res) => {
    const form = parseForm(chooseForm, req.body);
    // Only the buttons of the page send this form: anything else goes back to it.
    if (!form.ok) return res.redirect(303, CHOOSE_PATH);
    const result = await signIn.choose(pendingStore(req), contextOf(req), form.data.factor, form.data.via);
    if (!result.ok) {
      if (result.ended === 'no_such_factor') return res.redirect(303, CHOOSE_PATH);
      return startAgain(req, res, result.ended);
    }
    // Back to a way whose code went out moments ago: that code still works, nothing to say.
    const stillValid = result.switched && !result.begun.ok && result.begun.reason === 'cooling_down';
    if (!result.begun.ok && !stillValid) beginFailed(req, res, result.chosen.kind, result.begun);
    res.redirect(303, VERIFY_PATH);
  });

  // ---- "Use a recovery code" ------------------------------------------------------------------

  /** The person's set of recovery codes, when the pending sign-in is theirs and they have one. */
  const recoverySet = (step: PendingStep) => step.account.factors.find((factor) => factor.kind === RECOVERY_CODES_KIND);

  function renderRecoveryCode(res: Response, status: number, step: PendingStep, errors: FieldErrors = {}) {
    res.status(status).render('factors/recovery-codes/sign-in', {
      title: 'Use a recovery code',
      // Back to the step the sign-in is on: its codes, and its other ways.
      back: VERIFY_PATH,
      errors,
    });
  }

  router.get(RECOVERY_CODE_PATH, noStore, async (req, res) => {
    const step = await resumed(req, res);
    if (!step) return;
    if (!recoverySet(step)) return res.redirect(303, VERIFY_PATH);
    renderRecoveryCode(res, 200, step);
  });

  router.post(RECOVERY_CODE_PATH, noStore, async (req, res) => {
    const step = await resumed(req, res);
    if (!step) return;
    const set = recoverySet(step);
    if (!set) return res.redirect(303, VERIFY_PATH);
    const options = rememberBrowserOf(req, res);
    const form = parseForm(recoveryCodeForm, req.body);
    if (!form.ok) return renderRecoveryCode(res, 422, step, form.errors);
    const result = await signIn.verifyBackup(pendingStore(req), contextOf(req), set.id, form.data.code, options, step);
    if (result.ok) {
      const left = (await recoveryCodes.remaining(result.signedIn.factors))?.left ?? 0;
      return finish(req, res, result.signedIn, result.method, result, recoveryCodesLeft(left));
    }
    if (result.ended === 'no_such_factor') return res.redirect(303, VERIFY_PATH);
    if (result.ended) return startAgain(req, res, result.ended);
    const refusal = result as FactorRefusal<RecoveryCodeReason>;
    if (refusal.retryAfterSeconds) res.set('Retry-After', String(refusal.retryAfterSeconds));
    const field = ABOUT_THE_RECOVERY_CODE.has(refusal.reason) ? 'code' : 'form';
    renderRecoveryCode(res, STATUS[refusal.reason], step, { [field]: recoveryCodeRefused(refusal) });
  });

  return router;
}

/** The factors offered under "Use another way": second factors, not ways back in. */
function choices(step: PendingStep): UserFactor[] {
  return step.account.factors.filter((factor) => factor.kind !== RECOVERY_CODES_KIND);
}
