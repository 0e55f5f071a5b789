// Recovery codes on /account: the new codes shown once (with Copy, Download and Print), made
// when the first second factor is turned on and again on request ("Make new recovery codes",
// behind the password). Using one at sign-in is src/web/sign-in.ts.
//
// A new set's codes, in clear, live only in the session that made them, and only briefly: the
// page shows them on its first visit; "Download" serves them until "I have saved these codes"
// or NEW_CODES_LIFETIME_MS, whichever comes first. The database keeps hashes only.
import { Router, type Request, type RequestHandler } from 'express';
import { contextOf } from '../audit/index.js';
import { RECOVERY_CODES_KIND, type FactorUse, type RecoveryCodesFactor } from '../factors/index.js';
import { requireSignedIn } from './guards.js';
import { RECOVERY_CODES_SHOWN_ONCE } from './messages.js';
import { noStore } from './security.js';
import { flash, formatDateTime } from './views.js';

declare module 'express-session' {
  interface SessionData {
    /** A set of recovery codes just made, in clear, until shown and saved (see above). */
    newRecoveryCodes?: { codes: string[]; madeAt: number; shown: boolean };
  }
}

export const RECOVERY_CODES_PATHS = {
  show: '/account/recovery-codes',
  download: '/account/recovery-codes/download',
  saved: '/account/recovery-codes/saved',
  make: '/account/recovery-codes/new',
};

/** How long a new set's codes stay in the session for the page and its download. */
const NEW_CODES_LIFETIME_MS = 10 * 60_000;

const use = (req: Request): FactorUse => ({ userId: req.user!.id, purpose: 'enrolment', context: contextOf(req) });

/** The session's new codes while they may still be served, else undefined (and gone). */
function newCodesOf(req: Request) {
  const fresh = req.session.newRecoveryCodes;
  if (fresh && Date.now() - fresh.madeAt <= NEW_CODES_LIFETIME_MS) return fresh;
  delete req.session.newRecoveryCodes;
  return undefined;
}

/**
 * Called by a factor's pages once it is turned on: a person with no recovery codes yet gets a
 * set, and the path of the page that shows it. A failure here leaves the factor on, and the
 * account page offers to make the codes: it is logged, never the enrolment's failure.
 */
export function recoveryCodesAfterEnrolment(
  recoveryCodes: Pick<RecoveryCodesFactor, 'make'>,
): (req: Request) => Promise<string | undefined> {
  return async (req) => {
    try {
      const made = await recoveryCodes.make(use(req), { replace: false });
      if (!made.ok) return undefined;
      req.session.newRecoveryCodes = { codes: made.codes, madeAt: Date.now(), shown: false };
      return RECOVERY_CODES_PATHS.show;
    } catch (error) {
      req.log.error({ err: error }, 'recovery codes could not be made after an enrolment');
      return undefined;
    }
  };
}

export function recoveryCodesRouter(deps: {
  recoveryCodes: Pick<RecoveryCodesFactor, 'make'>;
  /** Lets a request through only shortly after a password confirmation (sudo mode). */
  requireRecentPassword: RequestHandler;
}): Router {
  const { recoveryCodes, requireRecentPassword } = deps;
  const router = Router();
  const paths = RECOVERY_CODES_PATHS;

  router.use(paths.show, requireSignedIn, noStore);

  router.get(paths.show, (req, res) => {
    const fresh = newCodesOf(req);
    if (!fresh || fresh.shown) {
      if (fresh) flash(req, { kind: 'info', text: RECOVERY_CODES_SHOWN_ONCE });
      return res.redirect(303, '/account');
    }
    fresh.shown = true;
    res.render('factors/recovery-codes/show', {
      title: 'Your recovery codes',
      codes: fresh.codes,
      paths,
    });
  });

  router.get(paths.download, (req, res) => {
    const fresh = newCodesOf(req);
    if (!fresh) {
      flash(req, { kind: 'info', text: RECOVERY_CODES_SHOWN_ONCE });
      return res.redirect(303, '/account');
    }
    const text = [
      `Recovery codes for ${req.user!.email}`,
      `Made ${formatDateTime(new Date(fresh.madeAt), { zone: true })}.`,
      '',
      'Each code signs you in once, in place of a code from your phone.',
      'Keep them somewhere safe; making new codes voids these.',
      '',
      ...fresh.codes,
      '',
    ].join('\r\n');
    res.set('Content-Disposition', 'attachment; filename="recovery-codes.txt"');
    res.type('text/plain; charset=utf-8').send(text);
  });

  router.post(paths.saved, (req, res) => {
    delete req.session.newRecoveryCodes;
    res.redirect(303, '/account');
  });

  router.get(paths.make, requireRecentPassword, (req, res) => {
    if (!req.user!.twoFactorEnabled) return res.redirect(303, '/account');
    const hasSet = req.user!.factors.some((factor) => factor.kind === RECOVERY_CODES_KIND);
    res.render('factors/recovery-codes/new', { title: 'Make new recovery codes', hasSet });
  });

  router.post(paths.make, requireRecentPassword, async (req, res) => {
    const made = await recoveryCodes.make(use(req), { replace: true });
    if (!made.ok) return res.redirect(303, '/account');
    req.session.newRecoveryCodes = { codes: made.codes, madeAt: Date.now(), shown: false };
    res.redirect(303, paths.show);
  });

  return router;
}
