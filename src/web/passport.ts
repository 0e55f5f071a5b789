// Passport keeps who is signed in across requests: one Passport instance per app, so apps
// built side by side (tests, several instances in one process) share no state. Passwords and
// factors are checked by the sign-in module, not by a Passport strategy.
import type { RequestHandler } from 'express';
import passport from 'passport';
import type { Account, SignInService } from '../sign-in/index.js';
import { sessionIfAny } from '../core/sessions.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // What a signed-in request carries: the account and its factors, never the password hash.
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends Account {}
  }
}

/**
 * What a signed-in session holds: who, the generation its sign-in began in, and its row in
 * user_sessions (`sid`). A session from before that row existed has no `sid`: it is signed out.
 */
interface SignedIn {
  id: string;
  generation: number;
  sid: string;
}

function isSignedIn(value: unknown): value is SignedIn {
  const { id, generation, sid } = (value ?? {}) as Partial<SignedIn>;
  return typeof id === 'string' && typeof generation === 'number' && typeof sid === 'string';
}

export function createPassport(signIn: SignInService): passport.PassportStatic {
  const instance = new passport.Passport() as passport.PassportStatic;
  instance.serializeUser((user, done) => {
    if (!user.sessionId) return done(new Error('a signed-in session needs its row in user_sessions'));
    done(null, { id: user.id, generation: user.sessionGeneration, sid: user.sessionId } satisfies SignedIn);
  });
  instance.deserializeUser((signedIn: unknown, done) => {
    if (!isSignedIn(signedIn)) return done(null, false);
    signIn.signedInAccount(signedIn.id, signedIn.generation, signedIn.sid).then(
      (account) => done(null, account ?? false),
      (error: unknown) => done(error),
    );
  });
  return instance;
}

/**
 * Passport on each request: its request methods (`req.logIn`, `req.logOut`), and the signed-in
 * person read back from the session. Passport's session middleware finds no one in a session
 * that holds no `passport` entry (a visitor's, or a sign-in still waiting for its second
 * factor) and passes, so it runs only on sessions that hold one: on a visitor's page it cost
 * about 30 µs of CPU for nothing (bench/findings.md). Without a session (a request with no
 * session cookie: none is made for this) there is no one to read back either. It adds the
 * request methods itself; elsewhere `initialize` adds them, on requests that may sign someone
 * in or out: posts only (sign-in and sign-out are forms that post, checked by their CSRF
 * token), not the pages a visitor views, where it was about 1 % of the CPU. `compat: false`: no
 * `req._passport`, which only strategies written for passport 0.4 read, and this app uses none.
 */
export function passportMiddleware(instance: passport.PassportStatic): RequestHandler {
  const initialize = instance.initialize({ compat: false }) as RequestHandler;
  const readBack = instance.session() as RequestHandler;
  return (req, res, next) => {
    const session = sessionIfAny(req);
    if (session && (session as { passport?: unknown }).passport) return readBack(req, res, next);
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    initialize(req, res, next);
  };
}
