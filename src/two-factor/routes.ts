// Phone two-factor pages: turning it on (phone, then code), the code step at sign-in, turning
// it off, and the development outbox. Routes parse input, call the service, render or redirect.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { formText } from '../core/forms.js';
import { ACCOUNT_LOCKED, completeSignIn, requireSignedIn, type SecondFactorStep, type SignInFinish } from '../accounts/routes.js';
import type { AccountsService } from '../accounts/service.js';
import { publicUser } from '../accounts/passport.js';
import { contextOf } from '../audit/audit-log.js';
import { HttpError } from '../core/errors.js';
import { noStore, safeLocalPath } from '../core/security.js';
import { regenerateSession } from '../core/sessions.js';
import { flash } from '../core/views.js';
import { countries, maskPhone, parsePhone } from './phone.js';
import type { ConsoleProvider } from './providers/console.js';
import type { Channel } from './providers/provider.js';
import type { CodeCheck, CodeContext, Delivery, SentAt, TwoFactorService } from './service.js';

declare module 'express-session' {
  interface SessionData {
    /** Password accepted, code not yet: grants nothing. */
    pendingSignIn?: { userId: string; startedAt: number; remember: boolean; next: string; sentAt: SentAt };
    /** A phone being verified before 2FA is turned on (or moved to it). */
    phoneEnrolment?: { phone: string; startedAt: number; sentAt: SentAt };
  }
}

const text = formText(256);
const phoneForm = z.object({ phone: text, country: text });
const codeForm = z.object({ code: text });

interface CodeStepActions {
  verify: string;
  resend: string;
  call: string;
  cancel: string;
  cancelLabel: string;
}

const SIGN_IN_ACTIONS: CodeStepActions = {
  verify: '/login/2fa',
  resend: '/login/2fa/resend',
  call: '/login/2fa/call',
  cancel: '/login/2fa/cancel',
  cancelLabel: 'Cancel',
};
const ENROLMENT_ACTIONS: CodeStepActions = {
  verify: '/account/2fa/verify',
  resend: '/account/2fa/resend',
  call: '/account/2fa/call',
  cancel: '/account/2fa/cancel',
  cancelLabel: 'Cancel',
};

const STATUS_FOR: Record<string, number> = {
  malformed: 422,
  wrong_code: 422,
  expired: 410,
  too_many_attempts: 429,
  rate_limited: 429,
  invalid_number: 422,
  unavailable: 503,
};

export function twoFactorRouter(deps: {
  twoFactor: TwoFactorService;
  accounts: AccountsService;
  finish: SignInFinish;
  /** Lets a request through only shortly after a password confirmation (sudo mode). */
  requireRecentPassword: RequestHandler;
  defaultCountry: string;
  outbox: ConsoleProvider | undefined;
}): { router: Router; secondFactor: SecondFactorStep } {
  const { twoFactor, accounts, finish, requireRecentPassword, defaultCountry, outbox } = deps;
  const router = Router();

  function renderCodeStep(
    res: Response,
    status: number,
    options: { phone: string; sentAt: SentAt; actions: CodeStepActions; heading: string; error?: string },
  ) {
    res.status(status).render('two-factor/code', {
      title: options.heading,
      heading: options.heading,
      maskedPhone: maskPhone(options.phone),
      actions: options.actions,
      error: options.error,
      resendSeconds: Math.ceil(twoFactor.cooldownRemaining(options.sentAt, 'sms') / 1000),
      callSeconds: Math.ceil(twoFactor.cooldownRemaining(options.sentAt, 'call') / 1000),
    });
  }

  function renderPhoneForm(
    req: Request,
    res: Response,
    status: number,
    values: { phone: string; country: string },
    errors: Record<string, string> = {},
  ) {
    res.status(status).render('two-factor/phone', {
      title: req.user?.twoFactorEnabled ? 'Change your phone number' : 'Turn on two-factor authentication',
      changingPhone: Boolean(req.user?.twoFactorEnabled),
      countries: countries(),
      values,
      errors,
    });
  }

  /** Who a code is for, from the request: the signed-in user, or the one at the code step. */
  function codeContext(req: Request): CodeContext {
    const pending = req.session.pendingSignIn;
    if (req.user) return { userId: req.user.id, purpose: 'enrolment', context: contextOf(req) };
    if (!pending) throw new Error('a code was asked for with nobody signing in');
    return { userId: pending.userId, purpose: 'sign_in', context: contextOf(req) };
  }

  /** Sends a code and records when, or says why not; shared by both code steps. */
  async function send(req: Request, phone: string, sentAt: SentAt, channel: Channel): Promise<Delivery> {
    const delivery = await twoFactor.deliver(phone, channel, codeContext(req));
    if (delivery.ok) {
      sentAt[delivery.channel] = twoFactor.now();
      flash(req, { kind: 'info', text: delivery.notice });
    } else if (delivery.retryAfterSeconds && req.res) {
      req.res.set('Retry-After', String(delivery.retryAfterSeconds));
    }
    return delivery;
  }

  async function resendOrCall(
    req: Request,
    res: Response,
    state: { phone: string; sentAt: SentAt },
    channel: Channel,
    actions: CodeStepActions,
    heading: string,
  ) {
    const waitMs = twoFactor.cooldownRemaining(state.sentAt, channel);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      res.set('Retry-After', String(seconds));
      return renderCodeStep(res, 429, {
        ...state,
        actions,
        heading,
        error: `Please wait ${seconds} seconds before asking for another ${channel === 'sms' ? 'text message' : 'call'}.`,
      });
    }
    const delivery = await send(req, state.phone, state.sentAt, channel);
    if (!delivery.ok) return renderCodeStep(res, STATUS_FOR[delivery.status] ?? 503, { ...state, actions, heading, error: delivery.message });
    res.redirect(303, actions.verify);
  }

  function checkFailed(res: Response, result: Exclude<CodeCheck, { status: 'approved' }>, state: { phone: string; sentAt: SentAt }, actions: CodeStepActions, heading: string) {
    renderCodeStep(res, STATUS_FOR[result.status] ?? 503, { ...state, actions, heading, error: result.message });
  }

  // ---- The code step at sign-in -------------------------------------------------------------

  const secondFactor: SecondFactorStep = async (req, res, user, signIn) => {
    // The password was right: a new session ID, holding only "who and when", granting nothing.
    await regenerateSession(req);
    const pending = { userId: user.id, startedAt: twoFactor.now(), remember: signIn.remember, next: signIn.next, sentAt: {} };
    req.session.pendingSignIn = pending;
    const delivery = await send(req, user.phoneNumber ?? '', pending.sentAt, 'sms');
    if (!delivery.ok) flash(req, { kind: 'error', text: delivery.message });
    res.redirect(303, SIGN_IN_ACTIONS.verify);
  };

  /**
   * The user of the pending sign-in as the database has them now; undefined when the sign-in
   * cannot go on, after sending the person back to the password step. Read again just before
   * the sign-in is granted, so that a lock set meanwhile by an admin holds.
   */
  async function pendingSignInUser(req: Request, res: Response): Promise<Express.User | undefined> {
    const pending = req.session.pendingSignIn;
    if (!pending) {
      res.redirect(303, '/login');
      return undefined;
    }
    const giveUp = (message?: string) => {
      delete req.session.pendingSignIn;
      if (message) flash(req, { kind: 'error', text: message });
      res.redirect(303, '/login');
      return undefined;
    };
    if (twoFactor.pendingExpired(pending.startedAt)) return giveUp('That sign-in took too long. Please sign in again.');
    const user = await accounts.findUser(pending.userId);
    if (!user?.phoneNumber || !user.twoFactorEnabledAt) return giveUp();
    if (user.lockedAt) {
      await accounts.recordLockedSignIn(user.id, contextOf(req));
      return giveUp(ACCOUNT_LOCKED);
    }
    return publicUser(user);
  }

  const withPendingSignIn: RequestHandler = async (req, res, next) => {
    const user = await pendingSignInUser(req, res);
    if (!user) return;
    res.locals.pendingUser = user;
    next();
  };

  const SIGN_IN_HEADING = 'Enter your code';
  const pendingState = (req: Request, res: Response) => ({
    phone: (res.locals.pendingUser as Express.User).phoneNumber ?? '',
    sentAt: req.session.pendingSignIn!.sentAt,
  });

  router.get('/login/2fa', noStore, withPendingSignIn, (req, res) => {
    renderCodeStep(res, 200, { ...pendingState(req, res), actions: SIGN_IN_ACTIONS, heading: SIGN_IN_HEADING });
  });

  router.post('/login/2fa', noStore, withPendingSignIn, async (req, res) => {
    const state = pendingState(req, res);
    const { code } = codeForm.parse(req.body ?? {});
    const result = await twoFactor.check(state.phone, code, codeContext(req));
    if (result.status !== 'approved') return checkFailed(res, result, state, SIGN_IN_ACTIONS, SIGN_IN_HEADING);
    const user = await pendingSignInUser(req, res);
    if (!user) return;
    const pending = req.session.pendingSignIn!;
    // completeSignIn regenerates the session ID again, so the pending ID signs no one in.
    await completeSignIn(req, user, pending.remember, finish);
    res.redirect(303, safeLocalPath(pending.next));
  });

  router.post('/login/2fa/resend', noStore, withPendingSignIn, (req, res) =>
    resendOrCall(req, res, pendingState(req, res), 'sms', SIGN_IN_ACTIONS, SIGN_IN_HEADING),
  );
  router.post('/login/2fa/call', noStore, withPendingSignIn, (req, res) =>
    resendOrCall(req, res, pendingState(req, res), 'call', SIGN_IN_ACTIONS, SIGN_IN_HEADING),
  );
  router.post('/login/2fa/cancel', (req, res) => {
    delete req.session.pendingSignIn;
    res.redirect(303, '/login');
  });

  // ---- Turning it on, changing the phone, turning it off ---------------------------------------

  const ENROL_HEADING = 'Confirm your phone';
  router.use('/account/2fa', requireSignedIn, noStore);

  router.get('/account/2fa', requireRecentPassword, (req, res) => {
    renderPhoneForm(req, res, 200, { phone: '', country: defaultCountry });
  });

  router.post('/account/2fa', requireRecentPassword, async (req, res) => {
    const form = phoneForm.parse(req.body ?? {});
    const values = { phone: form.phone.slice(0, 64), country: form.country || defaultCountry };
    const parsed = parsePhone(form.phone, values.country);
    if (!parsed.ok) return renderPhoneForm(req, res, 422, values, { phone: parsed.message });
    const current = req.session.phoneEnrolment;
    if (current?.phone === parsed.e164 && twoFactor.cooldownRemaining(current.sentAt, 'sms') > 0) {
      // Pressing "Send code" again does not send again within the cooldown: the code is on its way.
      flash(req, { kind: 'info', text: `We just sent a code to ${maskPhone(parsed.e164)}; it is still valid.` });
      return res.redirect(303, ENROLMENT_ACTIONS.verify);
    }
    const enrolment = { phone: parsed.e164, startedAt: twoFactor.now(), sentAt: {} };
    const delivery = await send(req, parsed.e164, enrolment.sentAt, 'sms');
    if (!delivery.ok) return renderPhoneForm(req, res, STATUS_FOR[delivery.status] ?? 503, values, { phone: delivery.message });
    req.session.phoneEnrolment = enrolment;
    res.redirect(303, ENROLMENT_ACTIONS.verify);
  });

  const withEnrolment: RequestHandler = (req, res, next) => {
    const enrolment = req.session.phoneEnrolment;
    if (!enrolment || twoFactor.pendingExpired(enrolment.startedAt)) {
      delete req.session.phoneEnrolment;
      return res.redirect(303, '/account/2fa');
    }
    next();
  };

  // "Resend code" and "Call me instead" need no confirmation of their own: they only send again
  // to the number chosen under one, and the enrolment cannot finish without this step.
  router.get('/account/2fa/verify', requireRecentPassword, withEnrolment, (req, res) => {
    renderCodeStep(res, 200, { ...req.session.phoneEnrolment!, actions: ENROLMENT_ACTIONS, heading: ENROL_HEADING });
  });

  router.post('/account/2fa/verify', requireRecentPassword, withEnrolment, async (req, res) => {
    const enrolment = req.session.phoneEnrolment!;
    const { code } = codeForm.parse(req.body ?? {});
    const result = await twoFactor.check(enrolment.phone, code, codeContext(req));
    if (result.status !== 'approved') return checkFailed(res, result, enrolment, ENROLMENT_ACTIONS, ENROL_HEADING);
    // Only the number whose code was just checked is ever stored.
    await twoFactor.enable(req.user!.id, enrolment.phone, contextOf(req), req.user!.twoFactorEnabled);
    delete req.session.phoneEnrolment;
    flash(req, {
      kind: 'success',
      text: req.user!.twoFactorEnabled
        ? 'Your phone number is changed. Codes now go to the new number.'
        : 'Two-factor authentication is on. Next time you sign in, we will send you a code.',
    });
    res.redirect(303, '/account');
  });

  router.post('/account/2fa/resend', withEnrolment, (req, res) =>
    resendOrCall(req, res, req.session.phoneEnrolment!, 'sms', ENROLMENT_ACTIONS, ENROL_HEADING),
  );
  router.post('/account/2fa/call', withEnrolment, (req, res) =>
    resendOrCall(req, res, req.session.phoneEnrolment!, 'call', ENROLMENT_ACTIONS, ENROL_HEADING),
  );
  router.post('/account/2fa/cancel', (req, res) => {
    delete req.session.phoneEnrolment;
    res.redirect(303, '/account');
  });

  router.get('/account/2fa/disable', requireRecentPassword, (req, res) => {
    if (!req.user!.twoFactorEnabled) return res.redirect(303, '/account');
    res.render('two-factor/disable', { title: 'Turn off two-factor authentication' });
  });

  router.post('/account/2fa/disable', requireRecentPassword, async (req, res) => {
    await twoFactor.disable(req.user!.id, contextOf(req));
    flash(req, { kind: 'success', text: 'Two-factor authentication is off. Signing in now needs only your password.' });
    res.redirect(303, '/account');
  });

  // ---- Development outbox ----------------------------------------------------------------------

  router.get('/dev/outbox', noStore, (_req, res) => {
    if (!outbox) throw new HttpError(404, 'There is nothing at this address.', 'Page not found');
    res.render('two-factor/outbox', { title: 'Outbox (development)', messages: outbox.outbox() });
  });

  return { router, secondFactor };
}
