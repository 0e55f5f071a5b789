// The sign-in state machine, as the web pages and the API use it.
export {
  memoryStore,
  mfaSessionsRepository,
  type MfaSessionState,
  type MfaSessionsRepository,
} from './mfa-sessions.js';
export { signedInRepository, type SignedInRead, type SignedInRepository } from './signed-in.js';
export {
  mayRememberBrowser,
  REMEMBERED_BROWSER_METHOD,
  signInService,
  toAccount,
  type Account,
  type AnswerOptions,
  type BrowserRemembered,
  type FactorStep,
  type PasskeySignIn,
  type PasswordStep,
  type PendingEnd,
  type PendingSignIn,
  type PendingSignInStore,
  type PendingStep,
  type SignInService,
} from './service.js';
