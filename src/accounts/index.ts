// The accounts feature, as the rest of the app uses it.
export {
  accountsRepository,
  takeAdminChangesTurn,
  type AccountsRepository,
  type AccountSummary,
  type Role,
  type User,
  USER_COLUMNS,
  UUID,
} from './repository.js';
export {
  accountsService,
  type AccountsService,
  type AdminCreation,
  type Authentication,
  type PasswordChange,
  type PasswordConfirmation,
  type SignUpProblems,
  type SignUpResult,
} from './service.js';
export {
  accountDeletion,
  type AccountDeletion,
  type Deletion,
  type DeletionRefusal,
  type FactorAnswer,
} from './deletion.js';
export { MAX_EMAIL_LENGTH, normaliseEmail } from './emails.js';
export { signInLimits, type SignInLimits } from './sign-in-limits.js';
export {
  LAST_SEEN_INTERVAL_MS,
  userSessions,
  userSessionsRepository,
  type ListedSession,
  type ListedSessions,
  type SessionSignOut,
  type UserSessions,
} from './user-sessions.js';
export {
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  newPasswordProblems,
  normalisePassword,
  passwordProblem,
  type NewPasswordProblems,
  type PasswordProblem,
} from './passwords.js';
export {
  forgetRememberedBrowsersOf,
  REMEMBER_BROWSER_DAYS,
  REMEMBER_BROWSER_MS,
  rememberedBrowsers,
  type ForgetResult,
  type RememberedBrowser,
  type RememberedBrowsers,
} from './remembered-browsers.js';
export { emailTokensRepository, type EmailTokensRepository } from './email-tokens.js';
export { securityNotices } from './notices.js';
export {
  PASSWORD_RESET_MINUTES,
  selfService,
  type ConfirmEmailChangeResult,
  type EmailChangeResult,
  type Limited,
  type ResetPasswordResult,
  type SelfService,
  type SendMail,
} from './self-service.js';
