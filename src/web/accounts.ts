// Sign-up, sign-out and the account page. Signing in is src/web/sign-in.ts.
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { contextOf, describeBrowser, type SignInAttempt } from '../audit/index.js';
import type { AccountsService, RememberedBrowsers, UserSessions } from '../accounts/index.js';
import { CommitUnconfirmedError, HttpError } from '../core/errors.js';
import { parseForm, type FieldErrors } from '../core/forms.js';
import { regenerateSession, type SessionLifetime } from '../core/sessions.js';
import {
  maskPhone,
  PASSKEY_KIND,
  RECOVERY_CODES_KIND,
  type FactorsService,
  type PasskeyFactor,
  type RecoveryCodesFactor,
} from '../factors/index.js';
import { REMEMBERED_BROWSER_METHOD, toAccount, type SignInService } from '../sign-in/index.js';
import type { TokenGrants } from '../tokens/index.js';
import { afterChange } from './errors.js';
import { sessionParams, signUpForm, typedEmail } from './forms/accounts.js';
import { answerSignedOut, nextFrom, redirectIfSignedIn, requireSignedIn, SECOND_FACTOR_AGAIN_PATH } from './guards.js';
import {
  apiSignInName,
  RECOVERY_CODES_FEW,
  REMEMBERED_BROWSER_NOT_FOUND,
  SESSION_NOT_FOUND,
  signUpProblems,
} from './messages.js';
import { noStore, safeLocalPath } from './security.js';
import { browserOf, keepRememberedTokens, rememberedTokens, startSession } from './session.js';
import { flash } from './views.js';

/**
 * "Your sessions" lists this many (this session among them) and says how many more there are:
 * an account signed in thousands of times would otherwise get a page of thousands of rows.
 */
const SESSIONS_SHOWN = 20;

const ACTIVITY_LABELS: Record<SignInAttempt, string> = {
  signed_in: 'Signed in',
  wrong_password: 'Failed attempt: wrong password',
  wrong_code: 'Failed attempt: wrong code',
};

function renderSignUp(
  res: Response,
  status: number,
  values: { email: string; next: string },
  errors: FieldErrors = {},
): void {
  res.status(status).render('accounts/signup', { title: 'Sign up', values, errors });
}

export function accountsRouter(deps: {
  accounts: AccountsService;
  factors: FactorsService;
  signIn: SignInService;
  /** The signed-in sessions of the pages ("Your sessions"). */
  sessions: UserSessions;
  /** The browsers where the second factor is not asked ("Remembered browsers"). */
  remembered: Pick<RememberedBrowsers, 'list' | 'forget'>;
  /** The API's sign-ins (refresh-token families), listed and signed out beside them. */
  apiSignIns: Pick<TokenGrants, 'apiSignIns' | 'signOutApiSignIn'>;
  lifetime: SessionLifetime;
  /** Lets a request through only shortly after a password confirmation (sudo mode). */
  requireRecentPassword: RequestHandler;
  /** How many recovery codes the person has left, for the account page. */
  recoveryCodes: Pick<RecoveryCodesFactor, 'remaining'>;
  /** The person's passkeys, listed one by one. */
  passkeys: Pick<PasskeyFactor, 'list'>;
}): Router {
  const {
    accounts,
    factors,
    signIn,
    sessions,
    remembered,
    apiSignIns,
    lifetime,
    requireRecentPassword,
    recoveryCodes,
    passkeys,
  } = deps;
  const router = Router();

  router.get('/signup', redirectIfSignedIn, (req, res) => {
    renderSignUp(res, 200, { email: '', next: nextFrom(req.query) });
  });

  router.post('/signup', async (req, res) => {
    const values = { email: typedEmail(req.body), next: nextFrom(req.body) };
    const form = parseForm(signUpForm, req.body);
    if (!form.ok) return renderSignUp(res, 422, values, form.errors);
    const result = await accounts.signUp(form.data, contextOf(req)).catch((error: unknown) => {
      if (!(error instanceof CommitUnconfirmedError)) throw error;
      const unsure =
        'We could not tell whether your account was created. In a minute, try to sign in with it; if that fails, sign up again.';
      throw new HttpError(503, unsure, 'Temporarily unavailable', { cause: error });
    });
    if (!result.ok) {
      const status = result.problems.email === 'taken' ? 409 : 422;
      return renderSignUp(res, status, { ...values, email: form.data.email }, signUpProblems(result.problems));
    }
    await afterChange(
      'Your account is created, but you could not be signed in just now. Please sign in with it in a minute.',
      async () => {
        const account = toAccount(result.user, []);
        await signIn.recordSignIn(account, 'password', contextOf(req), { browser: browserOf(req, res) });
        await startSession(req, account, false, lifetime, sessions);
      },
    );
    flash(req, { kind: 'success', text: 'Welcome! Your account is ready.' });
    res.redirect(303, safeLocalPath(values.next));
  });

  /** Ends this session: its row, then the session itself (Passport regenerates it: the old ID is destroyed in the store). */
  async function signOutHere(
    req: Request,
    res: Response,
    next: NextFunction,
    then = { to: '/login', text: 'You are signed out.' },
  ) {
    if (req.user) {
      await accounts.recordSignOut(req.user.id, contextOf(req));
      if (req.user.sessionId) await sessions.ended(req.user.id, req.user.sessionId);
    }
    req.logOut((error) => {
      if (error) return next(error);
      flash(req, { kind: 'info', text: then.text });
      res.redirect(303, then.to);
    });
  }

  router.post('/logout', (req, res, next) => signOutHere(req, res, next));

  // A session signed in on a remembered browser passed no second factor: before a sensitive
  // change, the person signs in again with one, this browser forgotten so that it asks.
  router.get(SECOND_FACTOR_AGAIN_PATH, requireSignedIn, noStore, (req, res) => {
    if (!req.session.secondFactorSkipped) return res.redirect(303, safeLocalPath(nextFrom(req.query) || '/account'));
    res.render('accounts/second-factor-again', { title: 'Sign in with your second factor', next: nextFrom(req.query) });
  });

  router.post(SECOND_FACTOR_AGAIN_PATH, requireSignedIn, async (req, res, next) => {
    const result = await remembered.forget(req.user!.id, 'this', rememberedTokens(req), contextOf(req));
    if (result.ok) keepRememberedTokens(req, res, result.keep);
    const after = nextFrom(req.body);
    await signOutHere(req, res, next, {
      to: after ? `/login?next=${encodeURIComponent(after)}` : '/login',
      text: 'Sign in again with your password and your second factor.',
    });
  });

  // "Your sessions": sign out one of the person's other sessions, of the pages or of the API.
  const notFound = () => new HttpError(404, SESSION_NOT_FOUND, 'Session not found');

  router.post('/account/sessions/:id/sign-out', requireSignedIn, async (req, res, next) => {
    const params = parseForm(sessionParams, req.params);
    if (!params.ok) throw notFound();
    if (params.data.id === req.user!.sessionId) return signOutHere(req, res, next);
    const result = await sessions.signOut(req.user!.id, params.data.id, contextOf(req));
    if (!result.ok) throw notFound();
    flash(req, { kind: 'success', text: 'That session is signed out.' });
    res.redirect(303, '/account');
  });

  router.post('/account/api-sign-ins/:id/sign-out', requireSignedIn, async (req, res) => {
    const params = parseForm(sessionParams, req.params);
    if (!params.ok) throw notFound();
    const result = await apiSignIns.signOutApiSignIn(req.user!.id, params.data.id, contextOf(req));
    if (!result.ok) throw notFound();
    flash(req, { kind: 'success', text: 'That API sign-in is signed out.' });
    res.redirect(303, '/account');
  });

  // "Remembered browsers": forget one (or all); forgetting this browser clears its cookie too.
  async function forget(req: Request, res: Response, which: { id: string } | 'all') {
    const result = await remembered.forget(req.user!.id, which, rememberedTokens(req), contextOf(req));
    if (!result.ok) throw new HttpError(404, REMEMBERED_BROWSER_NOT_FOUND, 'Browser not found');
    keepRememberedTokens(req, res, result.keep);
    const text =
      which === 'all'
        ? 'Every browser is forgotten: each will ask for your second factor at the next sign-in.'
        : 'That browser is forgotten: it will ask for your second factor at the next sign-in.';
    flash(req, { kind: 'success', text });
    res.redirect(303, '/account');
  }

  router.post('/account/remembered-browsers/:id/forget', requireSignedIn, async (req, res) => {
    const params = parseForm(sessionParams, req.params);
    if (!params.ok) throw new HttpError(404, REMEMBERED_BROWSER_NOT_FOUND, 'Browser not found');
    await forget(req, res, { id: params.data.id });
  });

  router.post('/account/remembered-browsers/forget-all', requireSignedIn, (req, res) => forget(req, res, 'all'));

  router.post('/account/sign-out-everywhere', requireSignedIn, async (req, res) => {
    // Every session of this user is dead from here on, this one included: it gets a fresh ID.
    await accounts.signOutEverywhere(req.user!.id, contextOf(req));
    await afterChange(
      'You are signed out on every device, this one included, but the next page could not be shown. Please try again in a minute.',
      () => regenerateSession(req),
    );
    flash(req, { kind: 'info', text: 'You are signed out on every device, this one included.' });
    res.redirect(303, '/login');
  });

  router.get('/account', requireSignedIn, noStore, async (req, res) => {
    const phone = req.user!.factors.find((factor) => factor.kind === 'phone')?.phoneNumber;
    const hasPasskeys = req.user!.factors.some((factor) => factor.kind === PASSKEY_KIND);
    const [activity, codes, signedIn, browsers, api, ownPasskeys] = await Promise.all([
      accounts.recentSignIns(req.user!.id),
      req.user!.twoFactorEnabled ? recoveryCodes.remaining(req.user!.factors) : undefined,
      sessions.list(req.user!.id, req.user!.sessionId ?? null, SESSIONS_SHOWN),
      // A browser is remembered only while the account has a factor, and every one is forgotten
      // when the last goes (src/accounts/remembered-browsers.ts): without factors, none to list.
      req.user!.factors.length ? remembered.list(req.user!.id, rememberedTokens(req)) : [],
      apiSignIns.apiSignIns(req.user!.id, SESSIONS_SHOWN),
      hasPasskeys ? passkeys.list(req.user!.id) : [],
    ]);
    // "Since your last visit": failures after the sign-in before this one.
    const previousSignIn = activity.filter((event) => event.attempt === 'signed_in')[1]?.at ?? new Date(0);
    const failedSinceLastVisit = activity.filter((event) => event.attempt !== 'signed_in' && event.at > previousSignIn);
    res.render('accounts/account', {
      title: 'Your account',
      maskedPhone: phone ? maskPhone(phone) : undefined,
      // With 2FA on: how many recovery codes are left (none without a set), and whether that is few.
      recoveryCodes: req.user!.twoFactorEnabled
        ? { left: codes?.left ?? 0, total: codes?.total ?? 0, few: (codes?.left ?? 0) <= RECOVERY_CODES_FEW }
        : undefined,
      // Each factor as the page lists it; the one used last first.
      factorList: req
        .user!.factors.filter((factor) => factor.kind !== RECOVERY_CODES_KIND)
        .map((factor) => ({
          kind: factor.kind,
          createdAt: factor.createdAt,
          maskedPhone: factor.phoneNumber ? maskPhone(factor.phoneNumber) : undefined,
        })),
      hasAuthenticatorApp: req.user!.factors.some((factor) => factor.kind === 'totp'),
      // Each passkey: its name, when it was added and last used, and where to remove it.
      passkeys: ownPasskeys.map((passkey) => ({
        name: passkey.name,
        createdAt: passkey.createdAt,
        lastUsedAt: passkey.lastUsedAt,
        remove: `/account/passkeys/${passkey.id}/remove`,
      })),
      // Codes made by a request whose page the person did not see (a double submit): still to show.
      newRecoveryCodesWaiting: req.session.newRecoveryCodes?.shown === false,
      failedSinceLastVisit: {
        count: failedSinceLastVisit.length,
        // A wrong code came after the right password: whoever typed it knows the password.
        passwordKnown: failedSinceLastVisit.some((event) => event.attempt === 'wrong_code'),
      },
      // This session first, then the others and the API's sign-ins, last seen first: the first
      // SESSIONS_SHOWN of each list hold the first SESSIONS_SHOWN of both.
      sessions: [
        ...signedIn.sessions.map((session) => ({
          id: session.id,
          action: `/account/sessions/${session.id}/sign-out`,
          current: session.id === req.user!.sessionId,
          browser: session.browser,
          ip: session.ip ?? 'unknown',
          signedInAt: session.createdAt,
          lastSeenAt: session.lastSeenAt,
        })),
        ...api.signIns.map((signIn) => ({
          id: signIn.familyId,
          action: `/account/api-sign-ins/${signIn.familyId}/sign-out`,
          current: false,
          browser: apiSignInName(signIn.browser),
          ip: signIn.ip ?? 'unknown',
          signedInAt: signIn.signedInAt,
          lastSeenAt: signIn.lastSeenAt,
        })),
      ]
        .sort((a, b) => Number(b.current) - Number(a.current) || b.lastSeenAt.getTime() - a.lastSeenAt.getTime())
        .slice(0, SESSIONS_SHOWN),
      moreSessions: Math.max(0, signedIn.total + api.total - SESSIONS_SHOWN),
      // This browser first, then the newest.
      rememberedBrowsers: browsers
        .sort((a, b) => Number(b.current) - Number(a.current))
        .map((browser) => ({ ...browser, forget: `/account/remembered-browsers/${browser.id}/forget` })),
      activity: activity.map((event) => ({
        at: event.at,
        ok: event.attempt === 'signed_in',
        what:
          event.method === REMEMBERED_BROWSER_METHOD
            ? 'Signed in on a remembered browser (no second factor asked)'
            : ACTIVITY_LABELS[event.attempt],
        browser: describeBrowser(event.userAgent),
        ip: event.ip ?? 'unknown',
      })),
    });
  });

  // Turning two-factor authentication off removes every factor, whatever its kind.
  router.use('/account/2fa/disable', requireSignedIn, noStore);

  router.get('/account/2fa/disable', requireRecentPassword, (req, res) => {
    if (!req.user!.twoFactorEnabled) return res.redirect(303, '/account');
    res.render('accounts/two-factor-off', { title: 'Turn off two-factor authentication' });
  });

  router.post('/account/2fa/disable', requireRecentPassword, async (req, res) => {
    const result = await factors.disable(req.user!, contextOf(req));
    if (!result.ok) return answerSignedOut(req, res);
    flash(req, { kind: 'success', text: 'Two-factor authentication is off. Signing in now needs only your password.' });
    res.redirect(303, '/account');
  });

  return router;
}
