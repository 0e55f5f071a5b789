// The phone code step as a page shows it, at sign-in and while turning the phone factor on:
// where codes went, what was sent, its forms. Shared by the sign-in and phone route modules.
import type { Response } from 'express';
import { maskPhone, type CheckReason, type CodesSent, type PhoneFactor, type SendRefusal } from '../factors/index.js';
import { ABOUT_THE_CODE, checkRefused, sendRefused, STATUS } from './messages.js';

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
}

export function codeStepPages(deps: { phone: PhoneFactor; devOutbox: boolean }) {
  const { phone, devOutbox } = deps;

  function render(res: Response, status: number, step: CodeStep, errors: Record<string, string> = {}) {
    res.status(status).render('two-factor/code', {
      title: step.heading,
      heading: step.heading,
      maskedPhone: maskPhone(step.phone),
      // "We sent a code" only once one went out: a failed first send leaves nothing to enter.
      delivery: step.sent.verificationSid === undefined ? undefined : (step.sent.delivery ?? { channel: 'sms', insteadOfText: false }),
      // Sends are recorded only when a code went out or may have: without a verification, the latter.
      maybeSent: step.sent.verificationSid === undefined && Object.keys(step.sent.sentAt).length > 0,
      devOutbox,
      signingIn: step.signingIn,
      otherWays: step.otherWays,
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
