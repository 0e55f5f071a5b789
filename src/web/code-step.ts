// The phone code step as a page shows it, at sign-in and while turning the phone factor on:
// where codes went, what was sent, its forms. Shared by the sign-in and phone route modules;
// SignInStepPage is what the sign-in pages need of any factor kind's step.
import type { Response } from 'express';
import type { z } from 'zod';
import {
  maskPhone,
  RECOVERY_CODES_KIND,
  type CheckReason,
  type CodesSent,
  type FactorRefusal,
  type PhoneFactor,
  type SendRefusal,
  type TotpCheckReason,
  type UserFactor,
} from '../factors/index.js';
import type { PendingStep } from '../sign-in/index.js';
import {
  ABOUT_THE_CODE,
  checkRefused,
  sendRefused,
  STATUS,
  TOTP_ABOUT_THE_CODE,
  TOTP_STATUS,
  totpRefused,
} from './messages.js';

export interface CodeStepActions {
  verify: string;
  resend: string;
  call: string;
  cancel: string;
  cancelLabel: string;
}

/** One code step: where codes go, what was sent for it, its forms. */
export interface CodeStep {
  phone: string;
  sent: CodesSent;
  actions: CodeStepActions;
  heading: string;
  /** At sign-in, a person who lost their phone is told how to get back in. */
  signingIn: boolean;
  /** At sign-in with several factors: where "Use another way" leads. */
  otherWays?: string;
  /** At sign-in, for a person with recovery codes: where "Use a recovery code" leads. */
  recoveryCode?: string;
}

/** The page where a recovery code is typed at sign-in (src/web/sign-in.ts). */
export const RECOVERY_CODE_PATH = '/login/2fa/recovery';

/** Where "Use a recovery code" leads from a sign-in step, when the person has recovery codes. */
export function recoveryCodePath(step: PendingStep): string | undefined {
  return step.account.factors.some((factor) => factor.kind === RECOVERY_CODES_KIND) ? RECOVERY_CODE_PATH : undefined;
}

export function codeStepPages(deps: { phone: PhoneFactor; devOutbox: boolean }) {
  const { phone, devOutbox } = deps;

  function render(res: Response, status: number, step: CodeStep, errors: Record<string, string> = {}) {
    res.status(status).render('factors/phone/code', {
      title: step.heading,
      heading: step.heading,
      maskedPhone: maskPhone(step.phone),
      // "We sent a code" only once one went out: a failed first send leaves nothing to enter.
      delivery:
        step.sent.verificationSid === undefined
          ? undefined
          : (step.sent.delivery ?? { channel: 'sms', insteadOfText: false }),
      // Sends are recorded only when a code went out or may have: without a verification, the latter.
      maybeSent: step.sent.verificationSid === undefined && Object.keys(step.sent.sentAt).length > 0,
      devOutbox,
      signingIn: step.signingIn,
      otherWays: step.otherWays,
      recoveryCode: step.recoveryCode,
      actions: step.actions,
      errors,
      resendSeconds: Math.ceil(phone.cooldownRemaining(step.sent.sentAt, 'sms') / 1000),
      callSeconds: Math.ceil(phone.cooldownRemaining(step.sent.sentAt, 'call') / 1000),
    });
  }

  return {
    render,

    /** The step again, saying why no code went out (with Retry-After when waiting helps). */
    sendRefused(res: Response, step: CodeStep, refusal: SendRefusal) {
      if (refusal.retryAfterSeconds) res.set('Retry-After', String(refusal.retryAfterSeconds));
      render(res, STATUS[refusal.reason], step, { form: sendRefused(refusal) });
    },

    /** The step again, saying why the code was not accepted: at the Code field when it is about the code. */
    checkRefused(res: Response, step: CodeStep, refusal: { reason: CheckReason; retryAfterSeconds?: number }) {
      const field = ABOUT_THE_CODE.has(refusal.reason) ? 'code' : 'form';
      render(res, STATUS[refusal.reason], step, { [field]: checkRefused(refusal) });
    },
  };
}

export type CodeStepPages = ReturnType<typeof codeStepPages>;

/** One way a factor is offered under "Use another way": its button, and how it begins (phone: `sms`, `call`). */
export interface SignInWay {
  label: string;
  via?: string;
}

/** How the sign-in pages show the step of one factor kind; src/web/app.ts lists one per kind. */
export interface SignInStepPage {
  /** What the factor is called while it is the one in use ("Codes to +33 • •• •• •• 78"). */
  name(factor: UserFactor): string;
  /** How a factor of this kind is offered among the ways to sign in ("Use another way"), each a button. */
  ways(factor: UserFactor): SignInWay[];
  /** The step's page; `otherWays` links to "Use another way" when the person has several factors. */
  render(
    res: Response,
    status: number,
    step: PendingStep,
    otherWays: string | undefined,
    errors?: Record<string, string>,
  ): void;
  /** What to say when the step could not begin (a code that did not go out), for the next page. */
  beginRefused(refusal: FactorRefusal): { text: string; retryAfterSeconds?: number };
  /** The step again, saying why its begin (a resend, a call) was refused. */
  againRefused(res: Response, step: PendingStep, otherWays: string | undefined, refusal: FactorRefusal): void;
  /** The step again, saying why the answer was not accepted. */
  verifyRefused(res: Response, step: PendingStep, otherWays: string | undefined, refusal: FactorRefusal): void;
  /** How the step's form is read, when its answer is not a typed code (a passkey's answer); `code` is the answer. */
  answerForm?: z.ZodType<{ code: string }>;
  /** Whether the step must begin again before its page is shown (a passkey's challenge used or past its time). */
  needsBegin?(step: PendingStep): boolean;
}

export const SIGN_IN_ACTIONS: CodeStepActions = {
  verify: '/login/2fa',
  resend: '/login/2fa/resend',
  call: '/login/2fa/call',
  cancel: '/login/2fa/cancel',
  cancelLabel: 'Cancel',
};

/** The phone's step at sign-in: the code page with "Resend code" and "Call me instead". */
export function phoneSignInStep(pages: CodeStepPages): SignInStepPage {
  const codeStep = (step: PendingStep, otherWays: string | undefined): CodeStep => ({
    phone: step.factor.phoneNumber ?? '',
    sent: (step.pending.challenges[step.factor.id] as CodesSent | undefined) ?? { sentAt: {} },
    actions: SIGN_IN_ACTIONS,
    heading: 'Enter your code',
    signingIn: true,
    otherWays,
    recoveryCode: recoveryCodePath(step),
  });
  // No-break spaces: a masked number read across two lines is no longer recognisable.
  const masked = (factor: UserFactor) => factor.label ?? maskPhone(factor.phoneNumber ?? '').replace(/ /g, '\u00a0');
  // The phone factor's refusals are its own reasons (factors/phone): begin refuses with a SendRefusal, verify with a CheckReason.
  return {
    name: (factor) => `Codes to ${masked(factor)}`,
    ways: (factor) => [
      { label: `Text me a code at ${masked(factor)}`, via: 'sms' },
      { label: `Call me at ${masked(factor)}`, via: 'call' },
    ],
    render: (res, status, step, otherWays, errors) => pages.render(res, status, codeStep(step, otherWays), errors),
    beginRefused: (refusal) => ({
      text: sendRefused(refusal as SendRefusal),
      retryAfterSeconds: refusal.retryAfterSeconds,
    }),
    againRefused: (res, step, otherWays, refusal) =>
      pages.sendRefused(res, codeStep(step, otherWays), refusal as SendRefusal),
    verifyRefused: (res, step, otherWays, refusal) =>
      pages.checkRefused(res, codeStep(step, otherWays), refusal as FactorRefusal<CheckReason>),
  };
}

/**
 * The page of a sign-in step that sends nothing (an app's code, a passkey): `view` with the
 * sign-in's forms, its other ways and recovery codes, and what `extra` adds for the step.
 */
export function stepView(view: string, title: string, extra: (step: PendingStep) => object = () => ({})) {
  return (
    res: Response,
    status: number,
    step: PendingStep,
    otherWays: string | undefined,
    errors: Record<string, string> = {},
  ) =>
    res.status(status).render(view, {
      title,
      actions: SIGN_IN_ACTIONS,
      otherWays,
      recoveryCode: recoveryCodePath(step),
      errors,
      ...extra(step),
    });
}

/** An authenticator app's step at sign-in: the code the app shows, nothing sent. */
export function totpSignInStep(): SignInStepPage {
  const render = stepView('factors/totp/code', 'Enter your code');
  // The totp factor's refusals are its own reasons (factors/totp): TotpCheckReason.
  const refused = (res: Response, step: PendingStep, otherWays: string | undefined, refusal: FactorRefusal) => {
    const reason = refusal as FactorRefusal<TotpCheckReason>;
    if (reason.retryAfterSeconds) res.set('Retry-After', String(reason.retryAfterSeconds));
    const field = TOTP_ABOUT_THE_CODE.has(reason.reason) ? 'code' : 'form';
    render(res, TOTP_STATUS[reason.reason], step, otherWays, { [field]: totpRefused(reason) });
  };
  return {
    name: (factor) => factor.label ?? 'Your authenticator app',
    ways: () => [{ label: 'Use your authenticator app' }],
    render: (res, status, step, otherWays, errors) => render(res, status, step, otherWays, errors),
    // Nothing is sent, so nothing can fail to go out.
    beginRefused: (refusal) => ({
      text: totpRefused(refusal as FactorRefusal<TotpCheckReason>),
      retryAfterSeconds: refusal.retryAfterSeconds,
    }),
    againRefused: (res, step, otherWays, refusal) => refused(res, step, otherWays, refusal),
    verifyRefused: (res, step, otherWays, refusal) => refused(res, step, otherWays, refusal),
  };
}
