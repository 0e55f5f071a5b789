// Sign-up, sign-in (the password step), sign-out and the account page.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { PassportStatic } from 'passport';
import { afterChange, CommitUnconfirmedError, HttpError } from '../core/errors.js';
import { noStore, safeLocalPath } from './security.js';
import { applyRememberMe, regenerateSession, sessionStep, type SessionLifetime } from '../core/sessions.js';
import { flash } from './views.js';
import { parseForm, type FieldErrors } from '../core/forms.js';
import { signInForm, signUpForm, typedEmail } from './forms/accounts.js';
import { contextOf, type SignInAttempt } from '../audit/audit-log.js';
import { describeBrowser } from '../audit/user-agent.js';
import { maskPhone } from '../factors/phone/numbers.js';
import { publicUser } from './passport.js';
import type { AccountsService } from '../accounts/service.js';

const SIGN_IN_FAILED = 'Incorrect email or password.';

const ACTIVITY_LABELS: Record<SignInAttempt, string> = {
  signed_in: 'Signed in',
  wrong_password: 'Failed attempt: wrong password',
  wrong_code: 'Failed attempt: wrong code',
};

export const ACCOUNT_LOCKED = 'This account is locked. Please contact the site\'s administrators.';

/** Sends anonymous visitors to the sign-in page, remembering where they were going. */
export const requireSignedIn: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
};

const redirectIfSignedIn: RequestHandler = (req, res, next) => {
  if (!req.user) return next();
  res.redirect(303, safeLocalPath(req.query.next));
};

export function nextFrom(source: unknown): string {
  const next = (source as { next?: unknown } | undefined)?.next;
  return typeof next === 'string' ? safeLocalPath(next, '') : '';
}

function renderForm(
  res: Response,
  view: 'accounts/signup' | 'accounts/login',
  status: number,
  values: { email: string; next: string; remember?: boolean },
  errors: FieldErrors = {},
): void {
  res.status(status).render(view, { title: view === 'accounts/signup' ? 'Sign up' : 'Sign in', values, errors });
}

/** What finishing a sign-in needs: where to record it, and how long it lasts. */
export interface SignInFinish {
  accounts: AccountsService;
  lifetime: SessionLifetime;
}

/**
 * Finishes a sign-in: a new session for the signed-in user, for the idle timeout or, with
 * "Remember me", for weeks. `user` is the account as read when the sign-in began, so a "sign
 * out everywhere" or lock since then leaves this session dead from its first request.
 */
export async function completeSignIn(req: Request, user: Express.User, remember: boolean, finish: SignInFinish) {
  await finish.accounts.recordSignIn(user.id, contextOf(req), user.twoFactorEnabled ? 'password_and_code' : 'password');
  await logIn(req, user);
  applyRememberMe(req, remember, finish.lifetime);
}

/** What happens after a correct password for an account that has a second factor. */
export type SecondFactorStep = (
  req: Request,
  res: Response,
  user: Express.User,
  signIn: { remember: boolean; next: string },
) => Promise<void>;

function logIn(req: Request, user: Express.User): Promise<void> {
  // Passport regenerates the session here, so an ID planted before sign-in is worthless.
  return sessionStep('sign-in', (done) => req.logIn(user, done));
}

export function accountsRouter(deps: {
  accounts: AccountsService;
  passport: PassportStatic;
  finish: SignInFinish;
  secondFactor: SecondFactorStep;
}): Router {
  const { accounts, passport, finish, secondFactor } = deps;
  const router = Router();

  router.get('/signup', redirectIfSignedIn, (req, res) => {
    renderForm(res, 'accounts/signup', 200, { email: '', next: nextFrom(req.query) });
  });

  router.post('/signup', async (req, res) => {
    const values = { email: typedEmail(req.body), next: nextFrom(req.body) };
    const form = parseForm(signUpForm, req.body);
    if (!form.ok) return renderForm(res, 'accounts/signup', 422, values, form.errors);
    const result = await accounts.signUp(form.data, contextOf(req)).catch((error: unknown) => {
      if (!(error instanceof CommitUnconfirmedError)) throw error;
      const unsure = 'We could not tell whether your account was created. In a minute, try to sign in with it; if that fails, sign up again.';
      throw new HttpError(503, unsure, 'Temporarily unavailable', { cause: error });
    });
    if (!result.ok) {
      const status = result.errors.email ? 409 : 422;
      return renderForm(res, 'accounts/signup', status, { ...values, email: form.data.email }, result.errors);
    }
    await afterChange('Your account is created, but you could not be signed in just now. Please sign in with it in a minute.', () =>
      completeSignIn(req, publicUser(result.user), false, finish),
    );
    flash(req, { kind: 'success', text: 'Welcome! Your account is ready.' });
    res.redirect(303, safeLocalPath(values.next));
  });

  router.get('/login', redirectIfSignedIn, (req, res) => {
    renderForm(res, 'accounts/login', 200, { email: '', next: nextFrom(req.query) });
  });

  router.post('/login', (req, res, next) => {
    const values = { email: typedEmail(req.body), next: nextFrom(req.body), remember: false };
    const form = parseForm(signInForm, req.body);
    if (!form.ok) {
      // Only missing fields get their own message; anything else is the one generic failure.
      const missing = Object.fromEntries(
        Object.entries(form.errors).filter(([, message]) => message.startsWith('Enter your')),
      );
      if (Object.keys(missing).length) return renderForm(res, 'accounts/login', 422, values, missing);
      return renderForm(res, 'accounts/login', 401, values, { form: SIGN_IN_FAILED });
    }
    values.remember = form.data.remember;
    const authenticate = passport.authenticate('local', { session: false }, (error: unknown, user: Express.User | false, info?: { message?: string }) => {
      if (error) return next(error);
      // Said only to someone who knows the password, so it reveals nothing to a guesser.
      if (info?.message === 'locked') return renderForm(res, 'accounts/login', 403, values, { form: ACCOUNT_LOCKED });
      if (!user) return renderForm(res, 'accounts/login', 401, values, { form: SIGN_IN_FAILED });
      const signIn = { remember: form.data.remember, next: form.data.next };
      const finished = user.twoFactorEnabled
        ? secondFactor(req, res, user, signIn)
        : completeSignIn(req, user, signIn.remember, finish).then(() => {
            res.redirect(303, safeLocalPath(signIn.next));
          });
      finished.catch(next);
    }) as RequestHandler;
    void authenticate(req, res, next);
  });

  router.post('/logout', async (req, res, next) => {
    if (req.user) await accounts.recordSignOut(req.user.id, contextOf(req));
    // Passport drops the user and regenerates the session: the old ID is destroyed in the store.
    req.logOut((error) => {
      if (error) return next(error);
      flash(req, { kind: 'info', text: 'You are signed out.' });
      res.redirect(303, '/login');
    });
  });

  router.post('/account/sign-out-everywhere', requireSignedIn, async (req, res) => {
    // Every session of this user is dead from here on, this one included: it gets a fresh ID.
    await accounts.signOutEverywhere(req.user!.id, contextOf(req));
    await afterChange('You are signed out on every device, this one included, but the next page could not be shown. Please try again in a minute.', () => regenerateSession(req));
    flash(req, { kind: 'info', text: 'You are signed out on every device, this one included.' });
    res.redirect(303, '/login');
  });

  router.get('/account', requireSignedIn, noStore, async (req, res) => {
    const phone = req.user!.phoneNumber;
    const activity = await accounts.recentSignIns(req.user!.id);
    // "Since your last visit": failures after the sign-in before this one.
    const previousSignIn = activity.filter((event) => event.attempt === 'signed_in')[1]?.at ?? new Date(0);
    const failedSinceLastVisit = activity.filter((event) => event.attempt !== 'signed_in' && event.at > previousSignIn);
    res.render('accounts/account', {
      title: 'Your account',
      maskedPhone: phone ? maskPhone(phone) : undefined,
      failedSinceLastVisit: {
        count: failedSinceLastVisit.length,
        // A wrong code came after the right password: whoever typed it knows the password.
        passwordKnown: failedSinceLastVisit.some((event) => event.attempt === 'wrong_code'),
      },
      activity: activity.map((event) => ({
        at: event.at,
        ok: event.attempt === 'signed_in',
        what: ACTIVITY_LABELS[event.attempt],
        browser: describeBrowser(event.userAgent),
        ip: event.ip ?? 'unknown',
      })),
    });
  });

  return router;
}
