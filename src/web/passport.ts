// Passport with the password strategy. One Passport instance per app, so apps built side by
// side (tests, several instances in one process) share no state.
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { contextOf } from '../audit/audit-log.js';
import type { AccountsService } from '../accounts/service.js';
import { emailField } from './forms/accounts.js';
import type { User } from '../accounts/repository.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // What a signed-in request carries: the account's row, password hash left out.
    interface User {
      id: string;
      email: string;
      role: 'USER' | 'ADMIN';
      /** E.164; shown only masked. */
      phoneNumber: string | null;
      twoFactorEnabled: boolean;
      /** The account's session generation when this sign-in began (see END_EVERY_SESSION). */
      sessionGeneration: number;
    }
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

export function publicUser(user: User): Express.User {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    phoneNumber: user.phoneNumber,
    twoFactorEnabled: user.twoFactorEnabledAt !== null,
    sessionGeneration: user.sessionGeneration,
  };
}

export function createPassport(accounts: AccountsService): passport.PassportStatic {
  const instance = new passport.Passport() as passport.PassportStatic;
  instance.use(
    new LocalStrategy({ usernameField: 'email', passwordField: 'password', passReqToCallback: true }, (req, email, password, done) => {
      const parsedEmail = emailField.safeParse(email);
      if (!parsedEmail.success) return done(null, false);
      accounts.authenticate(parsedEmail.data, password, contextOf(req)).then(
        (user) => {
          if (user === 'locked') done(null, false, { message: 'locked' });
          else done(null, user ? publicUser(user) : false);
        },
        (error: unknown) => done(error),
      );
    }),
  );
  instance.serializeUser((user, done) => done(null, { id: user.id, generation: user.sessionGeneration } satisfies SignedIn));
  instance.deserializeUser((signedIn: unknown, done) => {
    if (!isSignedIn(signedIn)) return done(null, false);
    accounts.findUser(signedIn.id).then(
      // A deleted or locked account simply ends the session, and so does a sign-in older than
      // the last "sign out everywhere" or lock: read on every request, so none is missed.
      (user) => done(null, user && !user.lockedAt && user.sessionGeneration === signedIn.generation ? publicUser(user) : false),
      (error: unknown) => done(error),
    );
  });
  return instance;
}
