// The phone factor's pages on /account: turning two-factor authentication on with a phone
// (number, then code) and changing the number; and the development outbox.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { contextOf } from '../audit/index.js';
import { parseForm, typedText, type FieldErrors } from '../core/forms.js';
import {
  countries,
  maskPhone,
  MAX_PHONE_INPUT,
  parsePhone,
  type Channel,
  type FactorUse,
  type PhoneEnrolment,
  type PhoneFactor,
} from '../factors/index.js';
import type { CodeStep, CodeStepPages } from './code-step.js';
import { afterChange } from './errors.js';
import { codeForm, phoneForm } from './forms/phone.js';
import { requireSignedIn } from './guards.js';
import { CODE_MAY_BE_USED_UP, PHONE_PROBLEMS, sendRefused, STATUS } from './messages.js';
import { noStore } from './security.js';
import { flash } from './views.js';

declare module 'express-session' {
  interface SessionData {
    /** A phone being verified before 2FA is turned on (or moved to it). */
    phoneEnrolment?: PhoneEnrolment;
  }
}

const ENROLMENT_ACTIONS = {
  verify: '/account/2fa/verify',
  resend: '/account/2fa/resend',
  call: '/account/2fa/call',
  cancel: '/account/2fa/cancel',
  cancelLabel: 'Cancel',
};

/** Whether the signed-in person already has a phone factor (then enrolling moves it). */
const hasPhone = (req: Request) => Boolean(req.user?.factors.some((factor) => factor.kind === 'phone'));

export function phoneRouter(deps: {
  phone: PhoneFactor;
  codeStep: CodeStepPages;
  /** How long an enrolment may wait for its code. */
  enrolmentLifetimeMs: number;
  /** Lets a request through only shortly after a password confirmation (sudo mode). */
  requireRecentPassword: RequestHandler;
  defaultCountry: string;
  /** Called once the phone turned 2FA on: may give a page to go to next (the new recovery codes). */
  afterEnrolment?: (req: Request) => Promise<string | undefined>;
}): Router {
  const { phone, codeStep, enrolmentLifetimeMs, requireRecentPassword, defaultCountry, afterEnrolment } = deps;
  const router = Router();

  const use = (req: Request): FactorUse => ({ userId: req.user!.id, purpose: 'enrolment', context: contextOf(req) });

  function renderPhoneForm(
    req: Request,
    res: Response,
    status: number,
    values: { phone: string; country: string },
    errors: FieldErrors = {},
  ) {
    const changingPhone = hasPhone(req);
    res.status(status).render('factors/phone/number', {
      title: changingPhone
        ? 'Change your phone number'
        : req.user?.twoFactorEnabled
          ? 'Add a phone'
          : 'Turn on two-factor authentication',
      changingPhone,
      countries: countries(),
      values,
      errors,
    });
  }

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
    const values = {
      phone: typedText(req.body, 'phone', MAX_PHONE_INPUT),
      country: (parsedForm.ok && parsedForm.data.country) || defaultCountry,
    };
    if (!parsedForm.ok) return renderPhoneForm(req, res, 422, values, parsedForm.errors);
    const parsed = parsePhone(parsedForm.data.phone, values.country);
    if (!parsed.ok) return renderPhoneForm(req, res, 422, values, { phone: PHONE_PROBLEMS[parsed.reason] });
    const started = await phone.startEnrolment(use(req), parsed.e164, req.session.phoneEnrolment);
    if (started.ok) {
      req.session.phoneEnrolment = started.enrolment;
    } else if (started.reason === 'cooling_down') {
      res.set('Retry-After', String(started.retryAfterSeconds));
      // Pressing "Send code" again within the cooldown sends nothing: the code is on its way.
      // The press that sent it (this session's earlier one, or a parallel one still
      // answering) records it; this one leaves the enrolment alone.
      if (started.stillValid)
        flash(req, { kind: 'info', text: `We just sent a code to ${maskPhone(parsed.e164)}; it is still valid.` });
    } else {
      if (started.retryAfterSeconds) res.set('Retry-After', String(started.retryAfterSeconds));
      return renderPhoneForm(req, res, STATUS[started.reason], values, { phone: sendRefused(started) });
    }
    res.redirect(303, ENROLMENT_ACTIONS.verify);
  });

  const withEnrolment: RequestHandler = (req, res, next) => {
    const enrolment = req.session.phoneEnrolment;
    if (!enrolment || phone.now() - enrolment.startedAt > enrolmentLifetimeMs) {
      delete req.session.phoneEnrolment;
      return res.redirect(303, '/account/2fa');
    }
    next();
  };

  // "Resend code" and "Call me instead" need no confirmation of their own: they only send again
  // to the number chosen under one, and the enrolment cannot finish without this step.
  router.get('/account/2fa/verify', requireRecentPassword, withEnrolment, (req, res) => {
    codeStep.render(res, 200, enrolmentStep(req));
  });

  router.post('/account/2fa/verify', requireRecentPassword, withEnrolment, async (req, res) => {
    const enrolment = req.session.phoneEnrolment!;
    const form = parseForm(codeForm, req.body);
    if (!form.ok) return codeStep.render(res, 422, enrolmentStep(req), form.errors);
    const changingPhone = hasPhone(req);
    await afterChange(changingPhone ? CODE_MAY_BE_USED_UP.phoneChange : CODE_MAY_BE_USED_UP.enrolment, async () => {
      const result = await phone.finishEnrolment(use(req), enrolment, form.data.code);
      if (!result.ok) return codeStep.checkRefused(res, enrolmentStep(req), result);
      delete req.session.phoneEnrolment;
      flash(req, {
        kind: 'success',
        text: result.changed
          ? 'Your phone number is changed. Codes now go to the new number.'
          : 'Two-factor authentication is on. Next time you sign in, we will send you a code.',
      });
      const next = result.changed ? undefined : await afterEnrolment?.(req);
      res.redirect(303, next ?? '/account');
    });
  });

  const resend =
    (channel: Channel): RequestHandler =>
    async (req, res) => {
      const { state, delivery } = await phone.resendEnrolment(use(req), req.session.phoneEnrolment!, channel);
      req.session.phoneEnrolment = state;
      if (!delivery.ok) return codeStep.sendRefused(res, enrolmentStep(req), delivery);
      res.redirect(303, ENROLMENT_ACTIONS.verify);
    };
  router.post('/account/2fa/resend', withEnrolment, resend('sms'));
  router.post('/account/2fa/call', withEnrolment, resend('call'));
  router.post('/account/2fa/cancel', (req, res) => {
    delete req.session.phoneEnrolment;
    res.redirect(303, '/account');
  });

  return router;
}
