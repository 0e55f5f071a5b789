// The authenticator-app (TOTP) pages on /account: setting an app up (a QR code made here, the
// key as text for typing in, then its first code) and removing it. Both sit behind a recent
// password confirmation, like the phone's.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import QRCode from 'qrcode';
import { contextOf } from '../audit/index.js';
import { parseForm, type FieldErrors } from '../core/forms.js';
import {
  RECOVERY_CODES_KIND,
  TOTP_KIND,
  type FactorsService,
  type FactorUse,
  type TotpEnrolment,
  type TotpFactor,
} from '../factors/index.js';
import { afterChange } from './errors.js';
import { codeForm } from './forms/phone.js';
import { requireSignedIn } from './guards.js';
import { TOTP_ABOUT_THE_CODE, TOTP_STATUS, totpRefused, totpSetupRefused } from './messages.js';
import { noStore } from './security.js';
import { flash } from './views.js';

declare module 'express-session' {
  interface SessionData {
    /** An authenticator app being set up: its first code not yet checked. */
    totpEnrolment?: TotpEnrolment;
  }
}

export const TOTP_SETUP_PATH = '/account/totp';
const CANCEL_PATH = '/account/totp/cancel';
const REMOVE_PATH = '/account/totp/remove';

/** A key in groups of four, easier to read and type ("JBSW Y3DP EHPK 3PXP"). */
export function groupedKey(secret: string): string {
  return (secret.match(/.{1,4}/g) ?? []).join(' ');
}

export function totpRouter(deps: {
  totp: TotpFactor;
  factors: FactorsService;
  /** How long a setup may wait for its first code. */
  enrolmentLifetimeMs: number;
  requireRecentPassword: RequestHandler;
  /** After 2FA is turned on: where to go next (the recovery codes just made), if anywhere. */
  afterEnrolment?: (req: Request) => Promise<string | undefined>;
}): Router {
  const { totp, factors, enrolmentLifetimeMs, requireRecentPassword, afterEnrolment } = deps;
  const router = Router();

  const use = (req: Request): FactorUse => ({ userId: req.user!.id, purpose: 'enrolment', context: contextOf(req) });
  // Recovery codes are a way back in, not a second factor: they do not keep 2FA on.
  const secondFactorsOf = (req: Request) =>
    req.user!.factors.filter((factor) => factor.kind !== RECOVERY_CODES_KIND).length;
  const appOf = (req: Request) => req.user!.factors.find((factor) => factor.kind === TOTP_KIND);

  async function renderSetup(req: Request, res: Response, status: number, errors: FieldErrors = {}) {
    const shown = totp.display(req.session.totpEnrolment!);
    if (!shown) {
      delete req.session.totpEnrolment;
      return res.redirect(303, TOTP_SETUP_PATH);
    }
    const qrCode = await QRCode.toDataURL(shown.uri, { errorCorrectionLevel: 'M', margin: 2, width: 240 });
    res.status(status).render('factors/totp/setup', {
      title: 'Set up an authenticator app',
      qrCode,
      key: groupedKey(shown.secret),
      errors,
    });
  }

  router.use('/account/totp', requireSignedIn, noStore);

  router.get(TOTP_SETUP_PATH, requireRecentPassword, async (req, res) => {
    if (appOf(req)) {
      flash(req, { kind: 'info', text: 'You already have an authenticator app. Remove it first to set up another.' });
      return res.redirect(303, '/account');
    }
    const current = req.session.totpEnrolment;
    // The same key while the setup lasts: a reload must not change the code the app shows.
    if (!current || totp.now() - current.startedAt > enrolmentLifetimeMs || current.backend !== totp.backendName) {
      const started = await totp.startEnrolment(use(req), { accountName: req.user!.email }, current);
      if (!started.ok) {
        delete req.session.totpEnrolment;
        flash(req, { kind: 'error', text: totpSetupRefused(started) });
        return res.redirect(303, '/account');
      }
      req.session.totpEnrolment = started.enrolment;
    }
    await renderSetup(req, res, 200);
  });

  router.post(TOTP_SETUP_PATH, requireRecentPassword, async (req, res) => {
    const enrolment = req.session.totpEnrolment;
    if (!enrolment || totp.now() - enrolment.startedAt > enrolmentLifetimeMs) {
      delete req.session.totpEnrolment;
      flash(req, { kind: 'error', text: totpRefused({ reason: 'expired' }) });
      return res.redirect(303, TOTP_SETUP_PATH);
    }
    const form = parseForm(codeForm, req.body);
    if (!form.ok) return renderSetup(req, res, 422, form.errors);
    await afterChange(
      'We could not finish setting up your authenticator app. Please try again in a minute with a new code.',
      async () => {
        const result = await totp.finishEnrolment(use(req), enrolment, form.data.code);
        if (!result.ok) {
          // Another request (a double submit, another tab) set the app up first: this one
          // changes nothing, the session included, so the codes that request made stay to be
          // shown (the account page links to them).
          if (result.reason === 'already_set_up') return res.redirect(303, '/account');
          if (result.reason === 'expired') {
            delete req.session.totpEnrolment;
            flash(req, { kind: 'error', text: totpRefused(result) });
            return res.redirect(303, TOTP_SETUP_PATH);
          }
          if (result.retryAfterSeconds) res.set('Retry-After', String(result.retryAfterSeconds));
          const field = TOTP_ABOUT_THE_CODE.has(result.reason) ? 'code' : 'form';
          return renderSetup(req, res, TOTP_STATUS[result.reason], { [field]: totpRefused(result) });
        }
        delete req.session.totpEnrolment;
        flash(req, {
          kind: 'success',
          text: 'Your authenticator app is set up. Next time you sign in, enter the code it shows.',
        });
        // The first second factor turned 2FA on: its recovery codes are made and shown once.
        const next = req.user!.twoFactorEnabled ? undefined : await afterEnrolment?.(req);
        res.redirect(303, next ?? '/account');
      },
    );
  });

  router.post(CANCEL_PATH, (req, res) => {
    delete req.session.totpEnrolment;
    res.redirect(303, '/account');
  });

  // ---- Removing the app --------------------------------------------------------------------

  router.get(REMOVE_PATH, requireRecentPassword, (req, res) => {
    const app = appOf(req);
    if (!app) return res.redirect(303, '/account');
    res.render('factors/totp/remove', {
      title: 'Remove your authenticator app',
      // Removing the only factor turns two-factor authentication off.
      last: secondFactorsOf(req) === 1,
    });
  });

  router.post(REMOVE_PATH, requireRecentPassword, async (req, res) => {
    const app = appOf(req);
    if (!app) return res.redirect(303, '/account');
    const last = secondFactorsOf(req) === 1;
    await factors.removeOne(req.user!.id, app.id, contextOf(req));
    flash(req, {
      kind: 'success',
      text: last
        ? 'Your authenticator app is removed. Two-factor authentication is off: signing in now needs only your password.'
        : 'Your authenticator app is removed.',
    });
    res.redirect(303, '/account');
  });

  return router;
}
