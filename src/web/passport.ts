// Passport keeps who is signed in across requests: one Passport instance per app, so apps
// built side by side (tests, several instances in one process) share no state. Passwords and
// factors are checked by the sign-in module, not by a Passport strategy.
import passport from 'passport';
import type { Account, SignInService } from '../sign-in/index.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // What a signed-in request carries: the account and its factors, never the password hash.
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends Account {}
  }
}

/** What a signed-in session holds: who, and the generation its sign-in began in. */
interface SignedIn {
  id: string;
  generation: number;
}

function isSignedIn(value: unknown): value is SignedIn {
  const { id, generation } = (value ?? {}) as Partial<SignedIn>;
  return typeof id === 'string' && typeof generation === 'number';
}

export function createPassport(signIn: SignInService): passport.PassportStatic {
  const instance = new passport.Passport() as passport.PassportStatic;
  instance.serializeUser((user, done) =>
    done(null, { id: user.id, generation: user.sessionGeneration } satisfies SignedIn),
  );
  instance.deserializeUser((signedIn: unknown, done) => {
    if (!isSignedIn(signedIn)) return done(null, false);
    signIn.signedInAccount(signedIn.id, signedIn.generation).then(
      (account) => done(null, account ?? false),
      (error: unknown) => done(error),
    );
  });
  return instance;
}
