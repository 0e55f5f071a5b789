// The passkey pages: adding one on /account (a name, then the browser's WebAuthn ceremony),
// removing one, and the passkey's step at sign-in (passkeySignInStep, which src/web/app.ts hands
// to the sign-in pages). Adding and removing sit behind a recent password confirmation, like
// every factor change. Each challenge is kept in this session only and used once.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { contextOf } from '../audit/index.js';
import { parseForm, typedText, type FieldErrors } from '../core/forms.js';
import {
  MAX_PASSKEY_NAME,
  PASSKEY_CHALLENGE_MS,
  RECOVERY_CODES_KIND,
  type FactorRefusal,
  type FactorUse,
  type PasskeyChallenge,
  type PasskeyEnrolment,
  type PasskeyFactor,
  type PasskeyReason,
} from '../factors/index.js';
import type { PendingStep } from '../sign-in/index.js';
import { stepView, type SignInStepPage } from './code-step.js';
import { afterChange } from './errors.js';
import { addPasskeyForm, passkeyAnswerForm, passkeyParams } from './forms/passkeys.js';
import { requireSignedIn } from './guards.js';
import { PASSKEY_STATUS, PASSKEYS_NEED_JAVASCRIPT, passkeyRefused } from './messages.js';
import { noStore } from './security.js';
import { flash } from './views.js';

declare module 'express-session' {
  interface SessionData {
    /** A passkey being added: its challenge, not yet answered (forgotten at the first answer). */
    passkeyEnrolment?: PasskeyEnrolment;
  }
}

export const ADD_PASSKEY_PATH = '/account/passkeys/new';
const removePath = (id: string) => `/account/passkeys/${id}/remove`;

export function passkeysRouter(deps: {
  passkey: PasskeyFactor;
  requireRecentPassword: RequestHandler;
  /** After 2FA is turned on: where to go next (the recovery codes just made), if anywhere. */
  afterEnrolment?: (req: Request) => Promise<string | undefined>;
}): Router {
  const { passkey, requireRecentPassword, afterEnrolment } = deps;
  const router = Router();

  const use = (req: Request): FactorUse => ({ userId: req.user!.id, purpose: 'enrolment', context: contextOf(req) });
  // Recovery codes are a way back in, not a second factor: they do not keep 2FA on.
  const secondFactorsOf = (req: Request) =>
    req.user!.factors.filter((factor) => factor.kind !== RECOVERY_CODES_KIND).length;

  /** The page with a new challenge (the one before, if any, is spent); to /account when none can be made. */
  async function renderAdd(req: Request, res: Response, status: number, name = '', errors: FieldErrors = {}) {
    const started = await passkey.startEnrolment(use(req), { userName: req.user!.email }, undefined);
    if (!started.ok) {
      delete req.session.passkeyEnrolment;
      flash(req, { kind: 'error', text: passkeyRefused(started) });
      return res.redirect(303, '/account');
    }
    req.session.passkeyEnrolment = started.enrolment;
    res.status(status).render('factors/passkey/add', {
      title: 'Add a passkey',
      options: JSON.stringify(started.enrolment.options),
      values: { name },
      maxName: MAX_PASSKEY_NAME,
      needsJavaScript: PASSKEYS_NEED_JAVASCRIPT,
      errors,
    });
  }

  router.use('/account/passkeys', requireSignedIn, noStore);

  router.get(ADD_PASSKEY_PATH, requireRecentPassword, (req, res) => renderAdd(req, res, 200));

  router.post(ADD_PASSKEY_PATH, requireRecentPassword, async (req, res) => {
    // Used once, whatever comes of this answer.
    const enrolment = req.session.passkeyEnrolment;
    delete req.session.passkeyEnrolment;
    const typedName = typedText(req.body, 'name', MAX_PASSKEY_NAME);
    const form = parseForm(addPasskeyForm, req.body);
    if (!form.ok) return renderAdd(req, res, 422, typedName, form.errors);
    if (!enrolment) {
      const refusal = { reason: 'expired' as const };
      return renderAdd(req, res, PASSKEY_STATUS.expired, typedName, { form: passkeyRefused(refusal) });
    }
    await afterChange('We could not finish adding your passkey. Please try again in a minute.', async () => {
      const wasOn = req.user!.twoFactorEnabled;
      const result = await passkey.finishEnrolment(
        use(req),
        { ...enrolment, name: form.data.name },
        form.data.credential,
      );
      if (!result.ok) {
        if (result.retryAfterSeconds) res.set('Retry-After', String(result.retryAfterSeconds));
        return renderAdd(req, res, PASSKEY_STATUS[result.reason], typedName, { form: passkeyRefused(result) });
      }
      flash(req, {
        kind: 'success',
        text: `Your passkey “${form.data.name}” is added. Next time you sign in, you can use it instead of a code.`,
      });
      // The first second factor turned 2FA on: its recovery codes are made and shown once.
      const next = wasOn ? undefined : await afterEnrolment?.(req);
      res.redirect(303, next ?? '/account');
    });
  });

  // ---- Removing one ------------------------------------------------------------------------

  /** The person's passkey named by the path, or undefined (and back to /account). */
  async function ownPasskey(req: Request, res: Response) {
    const params = parseForm(passkeyParams, req.params);
    const found = params.ok && (await passkey.list(req.user!.id)).find((one) => one.id === params.data.id);
    if (!found) res.redirect(303, '/account');
    return found || undefined;
  }

  router.get(removePath(':id'), requireRecentPassword, async (req, res) => {
    const found = await ownPasskey(req, res);
    if (!found) return;
    const all = await passkey.list(req.user!.id);
    res.render('factors/passkey/remove', {
      title: 'Remove a passkey',
      passkey: found,
      // Removing the only second factor turns two-factor authentication off.
      last: all.length === 1 && secondFactorsOf(req) === 1,
    });
  });

  router.post(removePath(':id'), requireRecentPassword, async (req, res) => {
    const found = await ownPasskey(req, res);
    if (!found) return;
    const all = await passkey.list(req.user!.id);
    const last = all.length === 1 && secondFactorsOf(req) === 1;
    await passkey.removePasskey(req.user!.id, found.id, contextOf(req));
    flash(req, {
      kind: 'success',
      text: last
        ? `Your passkey “${found.name}” is removed. Two-factor authentication is off: signing in now needs only your password.`
        : `Your passkey “${found.name}” is removed.`,
    });
    res.redirect(303, '/account');
  });

  return router;
}

/** A passkey's step at sign-in: "Use a passkey", with the options of the step's challenge. */
export function passkeySignInStep(now: () => number = Date.now): SignInStepPage {
  const challengeOf = (step: PendingStep) => step.pending.challenges[step.factor.id] as PasskeyChallenge | undefined;
  const render = stepView('factors/passkey/sign-in', 'Use your passkey', (step) => ({
    options: JSON.stringify(challengeOf(step)?.options ?? {}),
    needsJavaScript: PASSKEYS_NEED_JAVASCRIPT,
  }));
  const refused = (res: Response, step: PendingStep, otherWays: string | undefined, refusal: FactorRefusal) => {
    const reason = refusal as FactorRefusal<PasskeyReason>;
    if (reason.retryAfterSeconds) res.set('Retry-After', String(reason.retryAfterSeconds));
    render(res, PASSKEY_STATUS[reason.reason], step, otherWays, { form: passkeyRefused(reason) });
  };
  return {
    name: () => 'Your passkeys',
    ways: () => [{ label: 'Use a passkey' }],
    render,
    beginRefused: (refusal) => ({
      text: passkeyRefused(refusal as FactorRefusal<PasskeyReason>),
      retryAfterSeconds: refusal.retryAfterSeconds,
    }),
    againRefused: refused,
    verifyRefused: refused,
    answerForm: passkeyAnswerForm,
    needsBegin: (step) => {
      const challenge = challengeOf(step);
      return !challenge || now() - challenge.issuedAt > PASSKEY_CHALLENGE_MS;
    },
  };
}
