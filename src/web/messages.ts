// Every sentence the pages say about an outcome, in one place. Services return reasons; this
// module words them for people, and STATUS gives each reason its HTTP status, exhaustively, so
// a new reason cannot reach a page without a word and a status.
import {
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  type DeletionRefusal,
  type PasswordProblem,
  type SignUpProblems,
} from '../accounts/index.js';
import type { FieldErrors } from '../core/forms.js';
import type {
  Channel,
  CheckReason,
  FactorKindName,
  FactorRefusal,
  PasskeyReason,
  PhoneProblem,
  RecoveryCodeReason,
  SendReason,
  TotpCheckReason,
} from '../factors/index.js';
import type { PendingEnd } from '../sign-in/index.js';
import type { ActionRefusal, BenchResult } from '../admin/index.js';

/** A wait as people say it: "45 seconds", "1 minute", "15 minutes". */
export function waitText(seconds: number): string {
  const whole = Math.max(1, Math.ceil(seconds));
  if (whole < 60) return whole === 1 ? '1 second' : `${whole} seconds`;
  const minutes = Math.ceil(whole / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

// ---- Accounts and sign-in ----------------------------------------------------------------

export const SIGN_IN_FAILED = 'Incorrect email or password.';
export const ACCOUNT_LOCKED = "This account is locked. Please contact the site's administrators.";

export function tooManyPasswords(retryAfterSeconds: number): string {
  return `Too many wrong passwords. For your safety, please wait ${waitText(retryAfterSeconds)} and try again.`;
}

export function tooManyAttempts(retryAfterSeconds: number): string {
  return `Too many attempts in a short time. For your safety, please wait ${waitText(retryAfterSeconds)} and try again.`;
}

/** Why a pending sign-in ended, said on the sign-in page; undefined says nothing. */
export const PENDING_ENDED: Record<PendingEnd, string | undefined> = {
  none: undefined,
  expired: 'That sign-in took too long. Please sign in again.',
  locked: ACCOUNT_LOCKED,
  ended: undefined,
};

// ---- Your sessions ----------------------------------------------------------------------

export const REMEMBERED_BROWSER_NOT_FOUND =
  'That browser is not one remembered for your account, or it was already forgotten. Go back to your account to see your remembered browsers.';

export const SESSION_NOT_FOUND =
  'That session is not one of yours, or it has already ended. Go back to your account to see your sessions.';

/** How a sign-in through the API is named among the sessions ("API sign-in (curl)"). */
export function apiSignInName(client: string | null): string {
  return client && client !== 'Unknown browser' ? `API sign-in (${client})` : 'API sign-in';
}

// ---- Sign-up and new passwords ----------------------------------------------------------

/** Why a new password is refused. */
export const PASSWORD_PROBLEMS: Record<PasswordProblem, string> = {
  too_short: `Use at least ${MIN_PASSWORD_LENGTH} characters. A few unrelated words make a strong password.`,
  too_long: `Use at most ${MAX_PASSWORD_LENGTH} characters.`,
  control_characters: 'Use only characters you can type: no control characters.',
  common: 'This password is one of the most commonly used and easy to guess. Choose another.',
  is_email: 'Do not use your email address as your password.',
  repeated: 'A single repeated character is easy to guess. Choose another password.',
};

export const PASSWORDS_DIFFER = 'The two passwords do not match.';
export const EMAIL_TAKEN = 'An account with this email already exists. Sign in instead.';

/** A refused sign-up's problems, worded by field. */
export function signUpProblems(problems: SignUpProblems): FieldErrors {
  return {
    ...(problems.email === 'taken' ? { email: EMAIL_TAKEN } : {}),
    ...(problems.password ? { password: PASSWORD_PROBLEMS[problems.password] } : {}),
    ...(problems.passwordConfirmation === 'mismatch' ? { passwordConfirmation: PASSWORDS_DIFFER } : {}),
  };
}

// ---- Phone codes --------------------------------------------------------------------------

export const CODE_IS_SIX_DIGITS = 'The code is 6 digits, like 123456.';
export const PHONE_DIGITS_ONLY = 'Enter a phone number using digits, like +33 6 12 34 56 78.';

export const PHONE_PROBLEMS: Record<PhoneProblem, string> = {
  missing: 'Enter your phone number.',
  not_digits: PHONE_DIGITS_ONLY,
  invalid: 'That is not a valid phone number. Check the number and try again.',
  invalid_for_country: 'That is not a valid phone number for the chosen country. Check the country and the number.',
  extension: 'Enter a number without an extension: codes cannot reach extensions.',
};

const UNAVAILABLE = 'Codes cannot be sent or checked right now. Nothing was changed. Please try again in a minute.';

/** Why no code went out, for the person who asked. */
export function sendRefused(
  refusal: { reason: SendReason; channel: Channel; retryAfterSeconds?: number },
  cooldownSeconds = 0,
): string {
  const wait = waitText(refusal.retryAfterSeconds ?? cooldownSeconds);
  switch (refusal.reason) {
    case 'cooling_down':
      return `Please wait ${wait} before asking for another ${refusal.channel === 'sms' ? 'text message' : 'call'}.`;
    case 'rate_limited':
      return `Too many codes were sent. Please wait ${wait} before asking for another.`;
    case 'unconfirmed':
      return `We could not confirm that your code was sent, so it may or may not arrive. In ${wait} you can ask for a code again; then enter the latest code you receive.`;
    case 'country_not_supported':
      return 'Codes cannot be sent to phone numbers in this country. Use a number from a supported country.';
    case 'invalid_number':
      return 'That phone number cannot receive codes. Check the number.';
    case 'number_blocked':
      return 'No code was sent: text messages to this number are blocked for now, to protect against fraud. Ask for a call instead, use another number, or contact support.';
    case 'country_not_allowed':
      return 'No code was sent: codes cannot go to phone numbers in this country. Use a number from another country, or contact support.';
    case 'region_not_enabled':
      return 'No code was sent: text messages cannot go to phone numbers in this country. Ask for a call instead, use a number from another country, or contact support.';
    case 'channel_disabled':
      return refusal.channel === 'sms'
        ? 'No code was sent: codes by text message are turned off here. Ask for a call instead, or contact support.'
        : 'No code was sent: codes by phone call are turned off here. Ask for a text message instead, or contact support.';
    case 'provider_rate_limited':
      return 'Too many codes were asked for this number. Wait a few minutes, then try again.';
    case 'unavailable':
      return UNAVAILABLE;
  }
}

/** Why a code was not accepted. */
export function checkRefused(refusal: { reason: CheckReason; retryAfterSeconds?: number }): string {
  switch (refusal.reason) {
    case 'missing_code':
      return 'Enter the 6-digit code from the message.';
    case 'malformed':
      return CODE_IS_SIX_DIGITS;
    case 'wrong_code':
      return 'That code is not right. Check the latest message and try again.';
    case 'expired':
      return 'That code has expired or was already used. Send a new code.';
    case 'too_many_attempts':
      return 'Too many wrong codes. That code no longer works: send a new one.';
    case 'locked':
      return `Too many wrong codes. For your safety the code step is locked; try again in ${waitText(refusal.retryAfterSeconds ?? 3600)}.`;
    case 'invalid_request':
      return 'That code could not be checked. Send a new code and enter the one from the latest message.';
    case 'no_code':
      return 'No code has been sent yet. Use “Resend code” or “Call me instead” to get one.';
    case 'provider_rate_limited':
      return 'Too many codes were asked for this number. Wait a few minutes, then try again.';
    case 'unavailable':
      return UNAVAILABLE;
  }
}

/** Check outcomes about the code typed, shown at the Code field; the rest concern the whole step. */
export const ABOUT_THE_CODE: ReadonlySet<CheckReason> = new Set(['missing_code', 'malformed', 'wrong_code', 'expired']);

// Said when a code step fails after the code may have reached the provider, which approves a
// code once only: "Nothing was changed" would send the person back with a spent code.
export const CODE_MAY_BE_USED_UP = {
  signIn:
    'We could not finish signing you in, and your code may already be used up. In a minute, ask for a new code and enter that one.',
  enrolment:
    'We could not finish turning on two-factor authentication, and your code may already be used up. In a minute, send a new code and enter that one.',
  phoneChange:
    'We could not finish changing your phone number, and your code may already be used up. In a minute, send a new code and enter that one.',
};

// ---- Recovery codes ----------------------------------------------------------------------

export const RECOVERY_CODE_EXAMPLE = 'like 7kq2m-x9hdr';

/** Why a recovery code was not accepted. */
export function recoveryCodeRefused(refusal: { reason: RecoveryCodeReason; retryAfterSeconds?: number }): string {
  switch (refusal.reason) {
    case 'missing_code':
      return 'Enter one of your recovery codes.';
    case 'malformed':
      return `A recovery code is 10 letters and digits, ${RECOVERY_CODE_EXAMPLE}.`;
    case 'wrong_code':
      return 'That recovery code is not right. Check it and try again.';
    case 'used_code':
      return 'That recovery code was already used: each code works once. Use another one.';
    case 'locked':
      return checkRefused({ reason: 'locked', retryAfterSeconds: refusal.retryAfterSeconds });
    case 'not_enrolled':
      return 'Recovery codes are made on your account page.';
  }
}

/** Recovery code refusals about the code typed, shown at its field. */
export const ABOUT_THE_RECOVERY_CODE: ReadonlySet<RecoveryCodeReason> = new Set([
  'missing_code',
  'malformed',
  'wrong_code',
  'used_code',
]);

/** Said after signing in with a recovery code: how many are left, and what to do when few are. */
export function recoveryCodesLeft(left: number): { kind: 'info' | 'error'; text: string } {
  const count = left === 1 ? '1 recovery code' : `${left} recovery codes`;
  if (left === 0)
    return {
      kind: 'error',
      text: 'You signed in with your last recovery code. Make new recovery codes on this page now, so that you are not locked out.',
    };
  if (left <= RECOVERY_CODES_FEW)
    return {
      kind: 'error',
      text: `You signed in with a recovery code. You have ${count} left: make new recovery codes soon.`,
    };
  return { kind: 'info', text: `You signed in with a recovery code. You have ${count} left.` };
}

/** At or below this many codes left, the pages warn. */
export const RECOVERY_CODES_FEW = 3;

export const RECOVERY_CODES_SHOWN_ONCE =
  'For your safety, recovery codes are shown only once. If you did not save them, make new recovery codes.';

// ---- Authenticator apps (TOTP) ------------------------------------------------------------

/** Why an authenticator app's code was not accepted (setting it up, or signing in). */
export function totpRefused(refusal: { reason: TotpCheckReason; retryAfterSeconds?: number }): string {
  switch (refusal.reason) {
    case 'missing_code':
      return 'Enter the 6-digit code from your authenticator app.';
    case 'malformed':
      return CODE_IS_SIX_DIGITS;
    case 'wrong_code':
      return 'That code is not right. Enter the code your authenticator app shows now.';
    case 'replayed':
      return 'That code was already used. Wait for your authenticator app to show a new code, then enter it.';
    case 'locked':
      return checkRefused({ reason: 'locked', retryAfterSeconds: refusal.retryAfterSeconds });
    case 'rate_limited':
      return 'Too many codes were checked. Wait a few minutes, then try again.';
    case 'not_found':
      return 'This authenticator app is no longer set up. Use another way or a recovery code, or ask an administrator to reset your two-factor authentication.';
    case 'expired':
      return 'Setting up your authenticator app took too long. Scan the new QR code and enter the code it shows.';
    case 'already_set_up':
      return 'You already have an authenticator app. Remove it first to set up another.';
    case 'unavailable':
      return 'Codes cannot be checked right now. Nothing was changed. Please try again in a minute.';
    case 'unconfirmed':
      return 'We could not confirm that your code was checked, so nothing was changed yet. Wait for your authenticator app to show a new code, then enter it.';
  }
}

/** Why setting up an app could not start (its back end did not answer, or refused). */
export function totpSetupRefused(refusal: { reason: TotpCheckReason; retryAfterSeconds?: number }): string {
  switch (refusal.reason) {
    case 'unavailable':
    case 'not_found':
      return 'An authenticator app cannot be set up right now. Nothing was changed. Please try again in a few minutes.';
    case 'rate_limited':
      return 'Too many requests reached the service that checks codes. Wait a few minutes, then try again.';
    default:
      return totpRefused(refusal);
  }
}

// ---- Passkeys -----------------------------------------------------------------------------

/** Said wherever a passkey is asked for: WebAuthn runs in the browser's JavaScript. */
export const PASSKEYS_NEED_JAVASCRIPT =
  'Passkeys need JavaScript, and it is off or blocked in this browser. Turn it on, or use another way.';

/** Why a passkey was not accepted (adding one, or signing in with one). */
export function passkeyRefused(refusal: { reason: PasskeyReason; retryAfterSeconds?: number }): string {
  switch (refusal.reason) {
    case 'no_answer':
      return 'Your browser did not use a passkey. Passkeys need JavaScript and a browser that supports them; if you cancelled, try again.';
    case 'malformed':
      return 'Your browser sent something that is not a passkey. Please try again.';
    case 'expired':
      return 'That took too long, or the request was already used. Please try again.';
    case 'replayed':
      return 'That passkey answer was already used. Please try again.';
    case 'unknown_passkey':
      return 'That passkey is not one of the passkeys of this account. Choose another passkey, or use another way.';
    case 'not_verified':
      return 'That passkey could not be verified. Please try again, or use another way.';
    case 'user_not_verified':
      return 'Your passkey did not check it is you (with your fingerprint, face, PIN or screen lock). Please try again, or use another way.';
    case 'counter_regressed':
      return 'That passkey was refused because it may have been copied. Use another way, and remove this passkey from your account.';
    case 'already_registered':
      return 'That passkey is already registered. Use another device or password manager to add a new one.';
    case 'too_many':
      return 'You have as many passkeys as an account may have. Remove one first to add another.';
    case 'no_passkeys':
      return 'This account has no passkey anymore. Use another way to sign in.';
    case 'locked':
      // Passkeys share the codes' lock, but no code may have been involved: said as attempts.
      return `Too many failed attempts at the second factor. For your safety it is locked; try again in ${waitText(refusal.retryAfterSeconds ?? 3600)}.`;
  }
}

/** "Sign in with a passkey" on /login: the other way is the password form on the same page. */
export const PASSWORDLESS_NEEDS_JAVASCRIPT =
  'Signing in with a passkey needs JavaScript, and it is off or blocked in this browser. Sign in with your email and password instead.';

/** Why "Sign in with a passkey" did not sign in: the page also offers the password form. */
export function passwordlessRefused(refusal: { reason: PasskeyReason; retryAfterSeconds?: number }): string {
  switch (refusal.reason) {
    case 'no_answer':
      return PASSWORDLESS_NEEDS_JAVASCRIPT;
    // Nothing typed names an account, so this reveals nothing about anyone's email.
    case 'unknown_passkey':
      return 'This passkey is not registered here: it may have been removed, or made for another site. Choose another passkey, or sign in with your email and password.';
    case 'counter_regressed':
      return 'That passkey was refused because it may have been copied. Sign in with your email and password, and remove this passkey from your account.';
    // "Use another way": the password form, on the same page.
    default:
      return passkeyRefused(refusal);
  }
}

export const PASSKEY_STATUS: Record<PasskeyReason, number> = {
  no_answer: 422,
  malformed: 422,
  expired: 410,
  replayed: 409,
  unknown_passkey: 422,
  not_verified: 422,
  user_not_verified: 422,
  counter_regressed: 422,
  already_registered: 409,
  too_many: 409,
  no_passkeys: 409,
  locked: 429,
};

/** Refusals about the code typed, shown at the Code field; the rest concern the whole step. */
export const TOTP_ABOUT_THE_CODE: ReadonlySet<TotpCheckReason> = new Set([
  'missing_code',
  'malformed',
  'wrong_code',
  'replayed',
]);

export const TOTP_STATUS: Record<TotpCheckReason, number> = {
  missing_code: 422,
  malformed: 422,
  wrong_code: 422,
  replayed: 422,
  locked: 429,
  rate_limited: 429,
  not_found: 409,
  already_set_up: 409,
  unconfirmed: 503,
  expired: 410,
  unavailable: 503,
};

// ---- Admin area -------------------------------------------------------------------------

const FACTOR_KIND_NAMES: Record<FactorKindName, string> = {
  phone: 'Phone',
  totp: 'Authenticator app',
  passkey: 'Passkeys',
  recovery_codes: 'Recovery codes',
};

/** A factor as the admin's list of users names it ("Phone +33 • •• •• •• 78", "Authenticator app"). */
export function factorName(kind: string, maskedPhone?: string): string {
  if (kind === 'phone' && maskedPhone) return `Phone ${maskedPhone}`;
  return Object.hasOwn(FACTOR_KIND_NAMES, kind) ? FACTOR_KIND_NAMES[kind as FactorKindName] : kind;
}

/** The overview's count of people per factor kind, every kind, each figure's label. */
const PEOPLE_WITH: Record<FactorKindName, string> = {
  phone: 'With a phone (text or call)',
  totp: 'With an authenticator app',
  passkey: 'With a passkey',
  recovery_codes: 'With recovery codes',
};
export const FACTOR_KINDS_COUNTED = Object.entries(PEOPLE_WITH).map(([kind, label]) => ({ kind, label }));

export const ADMIN_REFUSED: Record<Exclude<ActionRefusal, 'not_confirmed'>, string> = {
  own_account: 'You cannot lock yourself out or remove your own admin rights; ask another admin.',
  own_two_factor: 'Turn off your own two-factor authentication on your account page, not here.',
  not_an_admin: 'That was not done: you are no longer an active admin.',
  no_such_user: 'That was not done: the account no longer exists.',
};

// The delivery test bench says what the provider's answer means in the words the pages use for
// people signing in, except where the admin is told more: a send whose fate is unknown, a number
// that cannot take texts, and the bench's own limits.
const BENCH_UNCONFIRMED =
  'We could not confirm that a code was sent: the code service did not say whether it went out.';

export function benchMeaning(result: BenchResult): string | undefined {
  switch (result.status) {
    case 'pending':
    case 'approved':
      return undefined;
    case 'rate_limited':
      return 'retryAfterSeconds' in result
        ? `Too many test codes. Wait ${waitText(result.retryAfterSeconds)}.`
        : checkRefused({ reason: 'provider_rate_limited' });
    case 'unconfirmed':
      return BENCH_UNCONFIRMED;
    case 'channel_failed':
      return result.maybeSent ? BENCH_UNCONFIRMED : 'This number cannot receive text messages.';
    case 'wrong_code':
    case 'expired':
    case 'too_many_attempts':
    case 'invalid_request':
    case 'unavailable':
      return checkRefused({ reason: result.status });
    default:
      return sendRefused({ reason: result.status, channel: result.channel ?? 'sms' });
  }
}

// ---- Status codes -------------------------------------------------------------------------

/** The HTTP status of each refusal a page shows. */
export const STATUS: Record<SendReason | CheckReason | RecoveryCodeReason, number> = {
  missing_code: 422,
  malformed: 422,
  wrong_code: 422,
  invalid_request: 422,
  no_code: 409,
  expired: 410,
  too_many_attempts: 429,
  locked: 429,
  rate_limited: 429,
  provider_rate_limited: 429,
  cooling_down: 429,
  invalid_number: 422,
  country_not_supported: 422,
  country_not_allowed: 422,
  region_not_enabled: 422,
  channel_disabled: 422,
  number_blocked: 403,
  unavailable: 503,
  unconfirmed: 503,
  used_code: 422,
  not_enrolled: 409,
};

// ---- Account self-service by email -------------------------------------------------------------

export const LINK_INVALID =
  'This link no longer works: it was used already, a newer one was sent, or it is more than its time old.';
export const RESET_LINK_SENT = (email: string, minutes: number) =>
  `If an account uses ${email}, we have sent it a link to reset the password. It works for ${minutes} minutes. Nothing arrived? Check your spam folder, or ask again in a few minutes.`;
export const PASSWORD_RESET_DONE =
  'Your password is changed, and every session of your account is signed out. Sign in with your new password.';
export const PASSWORD_CHANGED = 'Your password is changed. Every other session of your account is signed out.';
export const WRONG_CURRENT_PASSWORD = 'That is not your current password.';
export const EMAIL_VERIFIED = 'Thank you: your email address is confirmed.';
export const VERIFICATION_SENT = 'We have sent a new link to your email address. The older one no longer works.';
export const ALREADY_VERIFIED = 'Your email address is already confirmed.';
export const SAME_EMAIL = 'That is already the email address of your account.';
export const EMAIL_CHANGE_SENT = (email: string) =>
  `We have sent a link to ${email}. Your email address changes once you open it; until then, it stays as it is.`;
export const EMAIL_CHANGED = (email: string) => `Your email address is now ${email}.`;
export const EMAIL_NOW_TAKEN = 'Another account uses that email address now, so yours cannot change to it.';
export const VERIFY_EMAIL_FIRST =
  'Confirm your email address first (we sent you a link; your account page can send it again), then turn on two-factor authentication.';
export const NEW_BROWSER_MAIL_ON = 'We will email you when someone signs in to your account from a new browser.';
export const NEW_BROWSER_MAIL_OFF = 'We will no longer email you about sign-ins from new browsers.';
export function tooManyMails(retryAfterSeconds: number): string {
  return `Too many mails were asked for. Please try again in ${waitText(retryAfterSeconds)}.`;
}

// ---- Deleting the account ------------------------------------------------------------------

/** Why a deletion was refused, by field, and its status; a factor's own refusal is worded by factorCheckRefused. */
export const DELETION_REFUSED: Record<
  Exclude<DeletionRefusal['reason'], 'factor_refused' | 'gone' | 'signed_out'>,
  { status: number; field: string; text: string }
> = {
  confirmation_mismatch: {
    status: 422,
    field: 'confirmation',
    text: 'Type the email address of your account, exactly as shown, to confirm.',
  },
  factor_required: { status: 422, field: 'code', text: 'Enter a code from one of your ways to sign in.' },
  no_such_factor: { status: 422, field: 'factor', text: 'Choose one of your ways to sign in.' },
  last_admin: {
    status: 409,
    field: 'form',
    text: 'You are the only administrator, so your account cannot be deleted. Make someone else an administrator first. Nothing was deleted.',
  },
};

/**
 * A factor's refusal of a code typed outside sign-in (before deleting the account), in its kind's
 * words: the field it concerns (the code, or the whole form) and the status.
 */
export function factorCheckRefused(
  kind: string,
  refusal: FactorRefusal,
): { status: number; field: 'code' | 'form'; text: string } {
  if (kind === 'totp') {
    const reason = refusal.reason as TotpCheckReason;
    const text = totpRefused({ reason, retryAfterSeconds: refusal.retryAfterSeconds });
    return { status: TOTP_STATUS[reason], field: TOTP_ABOUT_THE_CODE.has(reason) ? 'code' : 'form', text };
  }
  if (kind === 'passkey') {
    const reason = refusal.reason as PasskeyReason;
    const text = passkeyRefused({ reason, retryAfterSeconds: refusal.retryAfterSeconds });
    return { status: PASSKEY_STATUS[reason], field: 'form', text };
  }
  if (kind === 'recovery_codes') {
    const reason = refusal.reason as RecoveryCodeReason;
    const text = recoveryCodeRefused({ reason, retryAfterSeconds: refusal.retryAfterSeconds });
    return { status: STATUS[reason], field: ABOUT_THE_RECOVERY_CODE.has(reason) ? 'code' : 'form', text };
  }
  const reason = refusal.reason as CheckReason;
  // This page's buttons are "Text me a code" and "Call me", not the code step's.
  const text =
    reason === 'no_code'
      ? 'No code has been sent yet. Use “Text me a code” or “Call me” to get one.'
      : checkRefused({ reason, retryAfterSeconds: refusal.retryAfterSeconds });
  return { status: STATUS[reason] ?? 422, field: ABOUT_THE_CODE.has(reason) ? 'code' : 'form', text };
}
