// The factors feature, as the rest of the app uses it.
export type { Begun, Challenge, FactorKind, FactorRefusal, FactorUse, UserFactor } from './factor.js';
export {
  factorsAsJson,
  factorsFromJson,
  factorsRepository,
  type FactorJson,
  type FactorsRepository,
} from './repository.js';
export { factorRegistry, type FactorKindName, type FactorKinds, type FactorRegistry } from './registry.js';
export { factorsService, type FactorsService } from './service.js';
export {
  phoneFactor,
  readCode,
  type Channel,
  type CheckReason,
  type CodeCheck,
  type CodesSent,
  type Delivery,
  type PhoneEnrolment,
  type PhoneFactor,
  type PhoneReason,
  type SendReason,
  type SendRefusal,
  type SentAt,
} from './phone/factor.js';
export {
  recoveryCodesFactor,
  type MakeRefusal,
  type RecoveryCodeReason,
  type RecoveryCodesFactor,
} from './recovery-codes/factor.js';
export { CODES_PER_SET, RECOVERY_CODES_KIND } from './recovery-codes/codes.js';
export { recoveryCodesRepository } from './recovery-codes/repository.js';
export { codeLimits, resendCooldown, type CodeLimits, type ResendCooldown } from './phone/code-limits.js';
export {
  countries,
  countryOf,
  maskPhone,
  MAX_PHONE_INPUT,
  parsePhone,
  phoneHint,
  type CountryOption,
  type PhoneProblem,
} from './phone/numbers.js';
export {
  backendNameOf,
  storedOf,
  TOTP_KIND,
  totpFactor,
  type TotpChallenge,
  type TotpCheckReason,
  type TotpEnrolment,
  type TotpFactor,
} from './totp/factor.js';
export type { TotpBackend, TotpEnrolmentStart, TotpReason, TotpStored } from './totp/backends/backend.js';
export { localTotpBackend, TOTP_DIGITS, TOTP_PERIOD_SECONDS } from './totp/backends/local.js';
export { TwilioTotpBackend } from './totp/backends/twilio.js';
export {
  MAX_PASSKEY_ANSWER,
  MAX_PASSKEY_NAME,
  MAX_PASSKEYS,
  PASSKEY_CHALLENGE_MS,
  PASSKEY_KIND,
  isPasskeyGuess,
  passkeyFactor,
  type IssuedChallenge,
  type PasswordlessPass,
  type PasskeyChallenge,
  type PasskeyEnrolment,
  type PasskeyFactor,
  type PasskeyReason,
} from './passkey/factor.js';
export { passkeysRepository, type PasskeyCredential, type PasskeysRepository } from './passkey/repository.js';
export { createCodeSenders } from './phone/senders/index.js';
export { ConsoleSender, type OutboxMessage } from './phone/senders/console.js';
export {
  mayHaveSent,
  type CheckResult,
  type CodeSender,
  type ProviderDetails,
  type StartResult,
} from './phone/senders/sender.js';
