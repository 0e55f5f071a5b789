// Phone two-factor pages: turning it on (phone, then code), the code step at sign-in, turning
// it off, and the development outbox. Routes parse input, call the service, render or redirect.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { parseForm, typedText, type FieldErrors } from '../core/forms.js';
import { ACCOUNT_LOCKED, completeSignIn, requireSignedIn, type SecondFactorStep, type SignInFinish } from './accounts.js';
import type { AccountsService } from '../accounts/service.js';
import { publicUser } from './passport.js';
import { contextOf } from '../audit/audit-log.js';
import { afterChange, HttpError } from '../core/errors.js';
import { noStore, safeLocalPath } from './security.js';
import { regenerateSession } from '../core/sessions.js';
import { flash } from './views.js';
import { codeForm, phoneForm } from './forms/phone.js';
import { countries, maskPhone, MAX_PHONE_INPUT, parsePhone } from '../factors/phone/numbers.js';
import type { ConsoleSender } from '../factors/phone/senders/console.js';
import type { Channel } from '../factors/phone/senders/sender.js';
import type { CodeCheck, CodeContext, Delivery, SentAt, TwoFactorService } from '../factors/phone/service.js';

declare module 'express-session' {
  interface SessionData {
    /**
     * Password accepted, code not yet: grants nothing. `generation` is the account's session
     * generation at the password step: ending every session since then ends this sign-in too.
     */
    pendingSignIn?: { userId: string; generation: number; startedAt: number; remember: boolean; next: string } & CodesSent;
    /** A phone being verified before 2FA is turned on (or moved to it). */
    phoneEnrolment?: PhoneEnrolment;
  }
}

type PhoneEnrolment = { phone: string; startedAt: number } & CodesSent;

/** What a code step remembers of the codes sent for it. */
interface CodesSent {
  sentAt: SentAt;
  /** The verification of the latest code sent, the one a check must name; absent while none went out. */
  verificationSid?: string;
  /** How the latest code went out, for the page to say so: a call may stand in for a text refused. */
  delivery?: { channel: Channel; insteadOfText: boolean };
}


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

/** One code step as a page shows it: where codes go, what was sent (recorded into), its forms. */
interface CodeStep {
  phone: string;
  sent: CodesSent;
  actions: CodeStepActions;
  heading: string;
  /** At sign-in, a person who lost their phone is told how to get back in. */
  signingIn: boolean;
}

/** Check outcomes that are about the code typed, shown at the Code field; the rest concern the whole step. */
const ABOUT_THE_CODE = new Set<string>(['malformed', 'wrong_code', 'expired']);

// Said when a code step fails after the code may have reached the provider, which approves a
// code once only: "Nothing was changed" would send the person back with a spent code.
const CODE_MAY_BE_USED_UP = {
  signIn: 'We could not finish signing you in, and your code may already be used up. In a minute, ask for a new code and enter that one.',
  enrolment: 'We could not finish turning on two-factor authentication, and your code may already be used up. In a minute, send a new code and enter that one.',
  phoneChange: 'We could not finish changing your phone number, and your code may already be used up. In a minute, send a new code and enter that one.',
};

const STATUS_FOR: Record<string, number> = {
  malformed: 422,
  wrong_code: 422,
  invalid_request: 422,
  no_code: 409,
  expired: 410,
  too_many_attempts: 429,
  rate_limited: 429,
  cooling_down: 429,
  invalid_number: 422,
  country_not_allowed: 422,
  region_not_enabled: 422,
  channel_disabled: 422,
  number_blocked: 403,
  unavailable: 503,
  unconfirmed: 503,
};

export function twoFactorRouter(deps: {
  twoFactor: TwoFactorService;
  accounts: AccountsService;
  finish: SignInFinish;
  /** Lets a request through only shortly after a password confirmation (sudo mode). */
  requireRecentPassword: RequestHandler;
  defaultCountry: string;
  outbox: ConsoleSender | undefined;
}): { router: Router; secondFactor: SecondFactorStep } {
  const { twoFactor, accounts, finish, requireRecentPassword, defaultCountry, outbox } = deps;
  const router = Router();

  function renderCodeStep(res: Response, status: number, step: CodeStep, errors: Record<string, string> = {}) {
    res.status(status).render('two-factor/code', {
      title: step.heading,
      heading: step.heading,
      maskedPhone: maskPhone(step.phone),
      // "We sent a code" only once one went out: a failed first send leaves nothing to enter.
      delivery: step.sent.verificationSid === undefined ? undefined : (step.sent.delivery ?? { channel: 'sms', insteadOfText: false }),
      // Sends are recorded only when a code went out or may have: without a verification, the latter.
      maybeSent: step.sent.verificationSid === undefined && Object.keys(step.sent.sentAt).length > 0,
      devOutbox: outbox !== undefined,
      signingIn: step.signingIn,
      actions: step.actions,
      errors,
      resendSeconds: Math.ceil(twoFactor.cooldownRemaining(step.sent.sentAt, 'sms') / 1000),
      callSeconds: Math.ceil(twoFactor.cooldownRemaining(step.sent.sentAt, 'call') / 1000),
    });
  }

  function renderPhoneForm(
    req: Request,
    res: Response,
    status: number,
    values: { phone: string; country: string },
    errors: FieldErrors = {},
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

  /**
   * Sends a code and records when (for the countdown on the page) and which verification, or
   * says why not; shared by both code steps. A press refused for the cooldown writes nothing
   * to the session, so it cannot overwrite what the press that did send records there.
   */
  async function send(req: Request, phone: string, sent: CodesSent, channel: Channel, options: { evenIfCoolingDown?: boolean } = {}): Promise<Delivery> {
    const delivery = await twoFactor.deliver(phone, channel, codeContext(req), options);
    if (delivery.ok) {
      sent.sentAt[channel] = sent.sentAt[delivery.channel] = twoFactor.now();
      // A resend may start a new verification (the last one expired or was used up): keep the latest.
      sent.verificationSid = delivery.verificationSid;
      // The code page says where the code went; a notice saying it too would be said twice.
      sent.delivery = { channel: delivery.channel, insteadOfText: channel === 'sms' && delivery.channel === 'call' };
    } else {
      // A code that may be on its way starts the countdown, as the cooldown does on the server.
      if (delivery.status === 'unconfirmed') sent.sentAt[channel] = sent.sentAt[delivery.channel] = twoFactor.now();
      if (delivery.retryAfterSeconds && req.res) req.res.set('Retry-After', String(delivery.retryAfterSeconds));
    }
    return delivery;
  }

  /** What to tell the person when no code went out. */
  function whyNotSent(delivery: Exclude<Delivery, { ok: true }>, channel: Channel): string {
    if (delivery.status !== 'cooling_down') return delivery.message;
    return `Please wait ${delivery.retryAfterSeconds} seconds before asking for another ${channel === 'sms' ? 'text message' : 'call'}.`;
  }

  async function resendOrCall(req: Request, res: Response, step: CodeStep, channel: Channel) {
    const delivery = await send(req, step.phone, step.sent, channel);
    if (!delivery.ok) return renderCodeStep(res, STATUS_FOR[delivery.status] ?? 503, step, { form: whyNotSent(delivery, channel) });
    res.redirect(303, step.actions.verify);
  }

  /** The code as typed; undefined when it cannot be one, after showing the step again with why. */
  function typedCode(req: Request, res: Response, step: CodeStep): string | undefined {
    const form = parseForm(codeForm, req.body);
    if (form.ok) return form.data.code;
    renderCodeStep(res, 422, step, form.errors);
    return undefined;
  }

  function checkFailed(res: Response, result: Exclude<CodeCheck, { status: 'approved' }>, step: CodeStep) {
    const field = ABOUT_THE_CODE.has(result.status) ? 'code' : 'form';
    renderCodeStep(res, STATUS_FOR[result.status] ?? 503, step, { [field]: result.message });
  }

  // ---- The code step at sign-in -------------------------------------------------------------

  const secondFactor: SecondFactorStep = async (req, res, user, signIn) => {
    // The password was right: a new session ID, holding only "who and when", granting nothing.
    await regenerateSession(req);
    const pending = {
      userId: user.id,
      generation: user.sessionGeneration,
      startedAt: twoFactor.now(),
      remember: signIn.remember,
      next: signIn.next,
      sentAt: {},
    };
    req.session.pendingSignIn = pending;
    const delivery = await send(req, user.phoneNumber ?? '', pending, 'sms', { evenIfCoolingDown: true });
    if (!delivery.ok) flash(req, { kind: 'error', text: whyNotSent(delivery, 'sms') });
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
    // Every session of the account was ended since the password step: this sign-in with them.
    if (user.sessionGeneration !== pending.generation) return giveUp();
    return publicUser(user);
  }

  const withPendingSignIn: RequestHandler = async (req, res, next) => {
    const user = await pendingSignInUser(req, res);
    if (!user) return;
    res.locals.pendingUser = user;
    next();
  };

  const signInStep = (req: Request, res: Response): CodeStep => ({
    phone: (res.locals.pendingUser as Express.User).phoneNumber ?? '',
    sent: req.session.pendingSignIn!,
    actions: SIGN_IN_ACTIONS,
    heading: 'Enter your code',
    signingIn: true,
  });

  router.get('/login/2fa', noStore, withPendingSignIn, (req, res) => {
    renderCodeStep(res, 200, signInStep(req, res));
  });

  router.post('/login/2fa', noStore, withPendingSignIn, async (req, res) => {
    const step = signInStep(req, res);
    const code = typedCode(req, res, step);
    if (code === undefined) return;
    const pending = req.session.pendingSignIn!;
    await afterChange(CODE_MAY_BE_USED_UP.signIn, async () => {
      const result = await twoFactor.check(step.sent.verificationSid, code, codeContext(req));
      if (result.status !== 'approved') return checkFailed(res, result, step);
      const user = await pendingSignInUser(req, res);
      if (!user) return;
      // completeSignIn regenerates the session ID again, so the pending ID signs no one in.
      await completeSignIn(req, user, pending.remember, finish);
      res.redirect(303, safeLocalPath(pending.next));
    });
  });

  router.post('/login/2fa/resend', noStore, withPendingSignIn, (req, res) => resendOrCall(req, res, signInStep(req, res), 'sms'));
  router.post('/login/2fa/call', noStore, withPendingSignIn, (req, res) => resendOrCall(req, res, signInStep(req, res), 'call'));
  router.post('/login/2fa/cancel', (req, res) => {
    delete req.session.pendingSignIn;
    res.redirect(303, '/login');
  });

  // ---- Turning it on, changing the phone, turning it off ---------------------------------------

  const enrolmentStep = (req: Request): CodeStep => ({
    phone: req.session.phoneEnrolment!.phone,
    sent: req.session.phoneEnrolment!,
    actions: ENROLMENT_ACTIONS,
    heading: 'Confirm your phone',
    signingIn: false,
  });
  router.use('/account/2fa', requireSignedIn, noStore);

  router.get('/account/2fa', requireRecentPassword, (req, res) => {
    renderPhoneForm(req, res, 200, { phone: '', country: defaultCountry });
  });

  router.post('/account/2fa', requireRecentPassword, async (req, res) => {
    const parsedForm = parseForm(phoneForm, req.body);
    const values = { phone: typedText(req.body, 'phone', MAX_PHONE_INPUT), country: (parsedForm.ok && parsedForm.data.country) || defaultCountry };
    if (!parsedForm.ok) return renderPhoneForm(req, res, 422, values, parsedForm.errors);
    const form = parsedForm.data;
    const parsed = parsePhone(form.phone, values.country);
    if (!parsed.ok) return renderPhoneForm(req, res, 422, values, { phone: parsed.message });
    const current = req.session.phoneEnrolment;
    const enrolment: PhoneEnrolment = { phone: parsed.e164, startedAt: twoFactor.now(), sentAt: {} };
    const delivery = await send(req, parsed.e164, enrolment, 'sms');
    if (delivery.ok) {
      req.session.phoneEnrolment = enrolment;
    } else if (delivery.status === 'cooling_down') {
      // Pressing "Send code" again within the cooldown sends nothing: the code is on its way.
      // The press that sent it (this session's earlier one, or a parallel one still
      // answering) records it; this one leaves the enrolment alone.
      if (current?.phone === parsed.e164 && current.verificationSid) {
        flash(req, { kind: 'info', text: `We just sent a code to ${maskPhone(parsed.e164)}; it is still valid.` });
      }
    } else {
      return renderPhoneForm(req, res, STATUS_FOR[delivery.status] ?? 503, values, { phone: delivery.message });
    }
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
    renderCodeStep(res, 200, enrolmentStep(req));
  });

  router.post('/account/2fa/verify', requireRecentPassword, withEnrolment, async (req, res) => {
    const enrolment = req.session.phoneEnrolment!;
    const code = typedCode(req, res, enrolmentStep(req));
    if (code === undefined) return;
    const changingPhone = req.user!.twoFactorEnabled;
    await afterChange(changingPhone ? CODE_MAY_BE_USED_UP.phoneChange : CODE_MAY_BE_USED_UP.enrolment, async () => {
      const result = await twoFactor.check(enrolment.verificationSid, code, codeContext(req));
      if (result.status !== 'approved') return checkFailed(res, result, enrolmentStep(req));
      // Only the number whose code was just checked is ever stored.
      await twoFactor.enable(req.user!.id, enrolment.phone, contextOf(req));
      delete req.session.phoneEnrolment;
      flash(req, {
        kind: 'success',
        text: changingPhone
          ? 'Your phone number is changed. Codes now go to the new number.'
          : 'Two-factor authentication is on. Next time you sign in, we will send you a code.',
      });
      res.redirect(303, '/account');
    });
  });

  router.post('/account/2fa/resend', withEnrolment, (req, res) => resendOrCall(req, res, enrolmentStep(req), 'sms'));
  router.post('/account/2fa/call', withEnrolment, (req, res) => resendOrCall(req, res, enrolmentStep(req), 'call'));
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
