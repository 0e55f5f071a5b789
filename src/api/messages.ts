// Every sentence and status code of the JSON API, from the services' typed reasons.
import type { PhoneReason, RecoveryCodeReason, TotpCheckReason } from '../factors/index.js';
import type { CheckRefusal, VerificationRefusal } from '../phone-verification/index.js';
import type { GrantRefusal, TokenRefusal } from '../tokens/index.js';

export const E164_EXAMPLE = '+33612345678';
export const INVALID_NUMBER = `phone_number must be a valid phone number in E.164 format, such as ${E164_EXAMPLE}.`;

const later = (seconds: number | undefined) => (seconds ? ` Try again in ${seconds} seconds.` : ' Try again later.');

/** Why no code was sent: status and message. */
export function sendRefused(refusal: VerificationRefusal): { status: number; message: string } {
  switch (refusal.reason) {
    case 'invalid_number':
      return { status: 400, message: INVALID_NUMBER };
    case 'too_many_requests':
      return {
        status: 429,
        message: `Too many requests for this number or from this address.${later(refusal.retryAfterSeconds)}`,
      };
    case 'cooling_down':
      return { status: 429, message: `A code was sent to this number moments ago.${later(refusal.retryAfterSeconds)}` };
    case 'rate_limited':
      return { status: 429, message: `Too many codes were sent to this number.${later(refusal.retryAfterSeconds)}` };
    case 'provider_rate_limited':
      // Twilio's own limit (its account-wide 20429, or 60212 for the number): not ours to word as a count.
      return {
        status: 429,
        message: `Codes cannot be sent right now: too many requests.${later(refusal.retryAfterSeconds)}`,
      };
    case 'unconfirmed':
      return {
        status: 503,
        message: `We could not confirm that a code was sent: it may still arrive.${later(refusal.retryAfterSeconds)}`,
      };
    case 'country_not_supported':
    case 'country_not_allowed':
      return { status: 422, message: 'Codes cannot be sent to numbers in this country.' };
    case 'number_blocked':
      return { status: 422, message: 'Codes cannot be sent to this number.' };
    case 'channel_disabled':
    case 'region_not_enabled':
      return { status: 422, message: 'Codes cannot be sent to this number by text message or by call.' };
    case 'unavailable':
      return { status: 503, message: 'Verification codes cannot be sent right now. Try again in a minute.' };
  }
}

/** Why a code was not accepted: status, message and the verification's status word. */
export function checkRefused(refusal: CheckRefusal): { status: number; message: string; verification: string } {
  switch (refusal.reason) {
    case 'wrong_code':
      return { status: 401, message: 'Invalid verification code', verification: 'pending' };
    case 'invalid_number':
      return { status: 400, message: INVALID_NUMBER, verification: 'invalid' };
    case 'missing_code':
    case 'malformed':
      return { status: 400, message: 'code must be the 4 to 10 digits sent to the number.', verification: 'pending' };
    case 'no_code':
      return { status: 404, message: 'No code is waiting for this number: send one first.', verification: 'not_found' };
    case 'expired':
    case 'used':
      return {
        status: 410,
        message: 'This code has expired or was already used: send a new one.',
        verification: 'expired',
      };
    case 'too_many_attempts':
    case 'locked':
      return {
        status: 429,
        message: `Too many wrong codes: send a new one later.${later(refusal.retryAfterSeconds)}`,
        verification: 'max_attempts_reached',
      };
    case 'too_many_requests':
    case 'provider_rate_limited':
      return {
        status: 429,
        message: `Too many requests for this number or from this address.${later(refusal.retryAfterSeconds)}`,
        verification: 'pending',
      };
    case 'invalid_request':
      return { status: 400, message: 'The code could not be checked: send a new one.', verification: 'invalid' };
    case 'unavailable':
      return {
        status: 503,
        message: 'Codes cannot be checked right now. Try again in a minute.',
        verification: 'pending',
      };
  }
}

interface Worded {
  status: number;
  error: string;
  description: string;
}

type FactorReason = PhoneReason | TotpCheckReason | RecoveryCodeReason;

const invalidGrant = (description: string): Worded => ({ status: 400, error: 'invalid_grant', description });
const INVALID_CODE = invalidGrant('Invalid code.');
const CODE_GONE = invalidGrant('The code has expired or was used up: ask for a new challenge.');
const TOO_MANY: Worded = { status: 429, error: 'too_many_attempts', description: 'Too many attempts.' };
const UNAVAILABLE: Worded = {
  status: 503,
  error: 'temporarily_unavailable',
  description: 'Codes cannot be sent or checked right now.',
};
const CANNOT_SEND: Worded = {
  status: 422,
  error: 'invalid_request',
  description: 'Codes cannot be sent to this authenticator.',
};

/** Every factor reason a token request or a challenge can meet, worded for OAuth clients. */
const FACTOR_REFUSALS: Record<FactorReason, Worded> = {
  wrong_code: INVALID_CODE,
  replayed: invalidGrant('That code was already used: wait for a new one.'),
  malformed: INVALID_CODE,
  missing_code: INVALID_CODE,
  invalid_request: INVALID_CODE,
  used_code: invalidGrant('That recovery code was already used.'),
  expired: CODE_GONE,
  no_code: invalidGrant('No code was sent for this sign-in: ask for a challenge first.'),
  too_many_attempts: CODE_GONE,
  locked: TOO_MANY,
  rate_limited: TOO_MANY,
  cooling_down: { ...TOO_MANY, description: 'A code went out moments ago.' },
  provider_rate_limited: TOO_MANY,
  unconfirmed: { ...UNAVAILABLE, description: 'We could not confirm that the code was sent or checked.' },
  unavailable: UNAVAILABLE,
  not_found: invalidGrant('This authenticator is no longer set up.'),
  not_enrolled: invalidGrant('This authenticator is no longer set up.'),
  already_set_up: invalidGrant('This authenticator is set up already.'),
  country_not_supported: CANNOT_SEND,
  country_not_allowed: CANNOT_SEND,
  number_blocked: CANNOT_SEND,
  channel_disabled: CANNOT_SEND,
  region_not_enabled: CANNOT_SEND,
  invalid_number: CANNOT_SEND,
};

const wait = (seconds: number | undefined) => (seconds ? ` Try again in ${seconds} seconds.` : '');

/** Why a token request (or a challenge) was refused: status, RFC 6749 error and description. */
export function grantRefused(refusal: GrantRefusal): Worded {
  switch (refusal.reason) {
    case 'invalid_credentials':
      return invalidGrant('Wrong email or password.');
    case 'locked':
      return invalidGrant('This account is locked. Ask an administrator to unlock it.');
    case 'email_not_verified':
      return {
        status: 403,
        error: 'access_denied',
        description:
          'Confirm your email address first, from the link we mailed you (your account page sends it again).',
      };
    case 'rate_limited':
      return { ...TOO_MANY, description: `Too many attempts.${wait(refusal.retryAfterSeconds)}` };
    case 'mfa_required':
      return { status: 403, error: 'mfa_required', description: 'Multifactor authentication required.' };
    case 'invalid_mfa_token':
      return invalidGrant('The mfa_token is invalid, expired or was used: sign in again.');
    case 'invalid_authenticator':
      return invalidGrant('No such authenticator for this sign-in, or not its latest challenge.');
    case 'invalid_refresh_token':
      return invalidGrant('The refresh token is invalid, expired or revoked: sign in again.');
    case 'factor_refused': {
      const { reason, retryAfterSeconds } = refusal.refusal;
      const worded = Object.hasOwn(FACTOR_REFUSALS, reason) ? FACTOR_REFUSALS[reason as FactorReason] : UNAVAILABLE;
      return { ...worded, description: `${worded.description}${wait(retryAfterSeconds)}` };
    }
  }
}

/** Why a bearer token was refused (the status is always 401, the error invalid_token). */
export const TOKEN_REFUSED: Record<TokenRefusal, string> = {
  missing: 'An access token is required: send Authorization: Bearer <token>.',
  malformed: 'The access token is malformed.',
  invalid: 'The access token is not valid.',
  expired: 'The access token has expired.',
  revoked: 'The access token was revoked.',
};
