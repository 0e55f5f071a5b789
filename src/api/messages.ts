// Every sentence and status code of the JSON API, from the services' typed reasons.
import type { CheckRefusal, VerificationRefusal } from '../phone-verification/index.js';
import type { TokenRefusal } from '../tokens/index.js';

export const E164_EXAMPLE = '+33612345678';
export const INVALID_NUMBER = `phone_number must be a phone number in E.164 format, such as ${E164_EXAMPLE}.`;

const wait = (seconds: number | undefined) => (seconds ? ` Try again in ${seconds} seconds.` : ' Try again later.');

/** Why no code was sent: status and message. */
export function sendRefused(refusal: VerificationRefusal): { status: number; message: string } {
  switch (refusal.reason) {
    case 'invalid_number':
      return { status: 400, message: INVALID_NUMBER };
    case 'too_many_requests':
      return {
        status: 429,
        message: `Too many requests for this number or from this address.${wait(refusal.retryAfterSeconds)}`,
      };
    case 'cooling_down':
      return { status: 429, message: `A code was sent to this number moments ago.${wait(refusal.retryAfterSeconds)}` };
    case 'rate_limited':
    case 'provider_rate_limited':
      return { status: 429, message: `Too many codes were sent to this number.${wait(refusal.retryAfterSeconds)}` };
    case 'unconfirmed':
      return {
        status: 503,
        message: `We could not confirm that a code was sent: it may still arrive.${wait(refusal.retryAfterSeconds)}`,
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
        message: `Too many wrong codes: send a new one later.${wait(refusal.retryAfterSeconds)}`,
        verification: 'max_attempts_reached',
      };
    case 'too_many_requests':
    case 'provider_rate_limited':
      return {
        status: 429,
        message: `Too many requests for this number or from this address.${wait(refusal.retryAfterSeconds)}`,
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

/** Why a bearer token was refused (the status is always 401, the error invalid_token). */
export const TOKEN_REFUSED: Record<TokenRefusal, string> = {
  missing: 'An access token is required: send Authorization: Bearer <token>.',
  malformed: 'The access token is malformed.',
  invalid: 'The access token is not valid.',
  expired: 'The access token has expired.',
  revoked: 'The access token was revoked.',
};
