// Deleting one's own account: /account/delete, behind a recent password confirmation (sudo
// mode) and, with two-factor authentication on, a current answer from one of the person's ways
// to sign in (an authenticator app, a code texted or called on request, a passkey, a recovery
// code). The rules live in src/accounts/deletion.ts; these routes read the forms, call it and
// word its answers.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { AccountDeletion } from '../accounts/index.js';
import { contextOf } from '../audit/index.js';
import { parseForm, typedText, type FieldErrors } from '../core/forms.js';
import { regenerateSession } from '../core/sessions.js';
import {
  maskPhone,
  PASSKEY_KIND,
  RECOVERY_CODES_KIND,
  type Challenge,
  type PasskeyChallenge,
  type SendRefusal,
} from '../factors/index.js';
import { afterChange } from './errors.js';
import { deleteAccountForm, deletionCodeForm } from './forms/accounts.js';
import { answerSignedOut, requireSignedIn } from './guards.js';
import { DELETION_REFUSED, factorCheckRefused, PASSKEYS_NEED_JAVASCRIPT, sendRefused, STATUS } from './messages.js';
import { noStore } from './security.js';
import { flash } from './views.js';

declare module 'express-session' {
  interface SessionData {
    /** What the deletion's factor check remembers, by factor id (codes sent to a phone). */
    deletionChallenges?: Record<string, Challenge>;
  }
}

const DELETE_PATH = '/account/delete';
const DELETED_PATH = '/account/deleted';

/** One of the person's ways to answer the check, as the page offers it. */
interface Way {
  id: string;
  kind: string;
  label: string;
  /** A phone: codes are sent on request, by text or by call. */
  sendable: boolean;
}

const LABELS: Record<string, string> = {
  [RECOVERY_CODES_KIND]: 'One of your recovery codes',
  totp: 'A code from your authenticator app',
  [PASSKEY_KIND]: 'One of your passkeys',
};

function waysOf(user: Express.User): Way[] {
  return user.factors.map((factor) => ({
    id: factor.id,
    kind: factor.kind,
    label:
      factor.kind === 'phone'
        ? `A code sent to ${maskPhone(factor.phoneNumber ?? '')}`
        : (LABELS[factor.kind] ?? factor.label ?? factor.kind),
    sendable: factor.kind === 'phone',
  }));
}

export function accountDeletionRouter(deps: {
  deletion: AccountDeletion;
  /** Lets a request through only shortly after a password confirmation (sudo mode). */
  requireRecentPassword: RequestHandler;
}): Router {
  const { deletion, requireRecentPassword } = deps;
  const router = Router();

  /**
   * A new challenge for the person's passkeys, kept in this session for the next answer (each is
   * used once); undefined when they have none.
   */
  async function passkeyChallenge(req: Request, ways: Way[]): Promise<PasskeyChallenge | undefined> {
    const passkeys = ways.find((way) => way.kind === PASSKEY_KIND);
    if (!passkeys) return undefined;
    const begun = await deletion.beginFactorCheck(req.user!.id, passkeys.id, undefined, '', contextOf(req));
    if (!begun.ok || !begun.outcome.ok) return undefined;
    req.session.deletionChallenges = { ...req.session.deletionChallenges, [passkeys.id]: begun.challenge };
    return begun.challenge as PasskeyChallenge;
  }

  async function render(
    req: Request,
    res: Response,
    status: number,
    values: { factor?: string; confirmation?: string },
    errors: FieldErrors = {},
  ) {
    const user = req.user!;
    const ways = user.twoFactorEnabled ? waysOf(user) : [];
    const challenge = await passkeyChallenge(req, ways);
    res.status(status).render('accounts/delete', {
      title: 'Delete your account',
      ways,
      // The way chosen: the one asked for, else the one used last.
      chosen: values.factor ?? ways[0]?.id,
      confirmation: values.confirmation ?? '',
      passkey: challenge && {
        factor: ways.find((way) => way.kind === PASSKEY_KIND)!.id,
        options: JSON.stringify(challenge.options),
        needsJavaScript: PASSKEYS_NEED_JAVASCRIPT,
      },
      errors,
    });
  }

  router.get(DELETED_PATH, (req, res) => {
    if (req.user) return res.redirect(303, '/account');
    res.render('accounts/deleted', { title: 'Your account is deleted' });
  });

  router.use(DELETE_PATH, requireSignedIn, noStore, requireRecentPassword);

  router.get(DELETE_PATH, (req, res) => {
    const factor = typeof req.query.factor === 'string' ? req.query.factor : undefined;
    return render(req, res, 200, { factor });
  });

  // A phone's code, sent on request ("Text me a code", "Call me").
  router.post(`${DELETE_PATH}/send`, async (req, res) => {
    const form = parseForm(deletionCodeForm, req.body);
    if (!form.ok) return render(req, res, 422, {}, { factor: DELETION_REFUSED.no_such_factor.text });
    const { factor, via } = form.data;
    // Only a phone has codes to send; asking for one for another way sends nothing, and says so.
    if (!waysOf(req.user!).some((way) => way.id === factor && way.sendable))
      return render(req, res, 422, {}, { factor: DELETION_REFUSED.no_such_factor.text });
    const challenges = req.session.deletionChallenges ?? {};
    const begun = await deletion.beginFactorCheck(req.user!.id, factor, challenges[factor], via, contextOf(req));
    if (!begun.ok) return render(req, res, 422, {}, { factor: DELETION_REFUSED.no_such_factor.text });
    // Kept whether or not a code went out: a send may count (the resend cooldown).
    req.session.deletionChallenges = { ...challenges, [factor]: begun.challenge };
    if (!begun.outcome.ok) {
      const refusal = begun.outcome as SendRefusal;
      if (refusal.retryAfterSeconds) res.set('Retry-After', String(refusal.retryAfterSeconds));
      return render(req, res, STATUS[refusal.reason], { factor }, { form: sendRefused(refusal) });
    }
    flash(req, { kind: 'info', text: via === 'call' ? 'We are calling you with a code.' : 'We sent you a code.' });
    res.redirect(303, `${DELETE_PATH}?factor=${encodeURIComponent(factor)}`);
  });

  router.post(DELETE_PATH, async (req, res) => {
    const form = parseForm(deleteAccountForm, req.body);
    const values = { factor: typedText(req.body, 'factor', 64) || undefined };
    if (!form.ok) return render(req, res, 422, values, form.errors);
    const { confirmation, factor, code, credential } = form.data;
    const user = req.user!;
    // A passkey's answer is the browser's (put in `credential` by the page's script); none comes
    // without JavaScript, and its check says so.
    const byPasskey = waysOf(user).some((way) => way.id === factor && way.kind === PASSKEY_KIND);
    const answer = byPasskey ? credential : code;
    const challenge = factor ? req.session.deletionChallenges?.[factor] : undefined;
    // Each challenge answers once, whatever comes of it.
    if (byPasskey && factor) delete req.session.deletionChallenges?.[factor];
    const result = await deletion.delete(
      user,
      {
        confirmation,
        factor: factor && (answer || byPasskey) ? { factorId: factor, challenge, answer } : undefined,
      },
      contextOf(req),
    );
    if (result.ok) {
      await afterChange(
        'Your account is deleted, but the next page could not be shown. You are signed out everywhere.',
        () => regenerateSession(req),
      );
      return res.redirect(303, DELETED_PATH);
    }
    const shown = { ...values, confirmation };
    switch (result.reason) {
      case 'gone':
        return res.redirect(303, '/login');
      case 'signed_out':
        return answerSignedOut(req, res);
      case 'factor_refused': {
        const said = factorCheckRefused(result.kind, result.refusal);
        if (result.refusal.retryAfterSeconds) res.set('Retry-After', String(result.refusal.retryAfterSeconds));
        return render(req, res, said.status, shown, { [said.field]: said.text });
      }
      default: {
        const said = DELETION_REFUSED[result.reason];
        return render(req, res, said.status, shown, { [said.field]: said.text });
      }
    }
  });

  return router;
}
