// The sign-in state machine, as the web pages (and the coming API) use it.
export {
  signInService,
  toAccount,
  type Account,
  type FactorStep,
  type PasswordStep,
  type PendingEnd,
  type PendingSignIn,
  type PendingSignInStore,
  type PendingStep,
  type SignInService,
} from './service.js';
