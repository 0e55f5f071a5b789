// One small interface for whoever delivers and checks codes: Twilio Verify in production, the
// console in development. Outcomes are typed, so callers never parse provider errors.
export type Channel = 'sms' | 'call';

/** What the provider itself said, for the admin test page: never shown to people signing in. */
export interface ProviderDetails {
  /** The provider's own status word: pending, approved, max_attempts_reached, ... */
  providerStatus?: string;
  /** The provider's id of the verification (Twilio: VE...). */
  sid?: string;
  /** The provider's error code (Twilio: 60200, 60205, ...). */
  errorCode?: number;
}

export type StartOutcome =
  /** A code is on its way; `sid` names the verification its check must name. */
  | { status: 'pending'; channel: Channel; sid: string }
  /**
   * This channel cannot reach the number (a landline for SMS) or is failing: a call may work.
   * `maybeSent` when Twilio failed on its side (5xx) after taking the request, so the code may
   * still go out.
   */
  | { status: 'channel_failed'; channel: Channel; message: string; maybeSent: boolean }
  /**
   * The request went out but no answer came back (time-out, connection lost, a 5xx): the code
   * may or may not be on its way.
   */
  | { status: 'unconfirmed'; channel: Channel; message: string }
  /** The service does not deliver codes on this channel at all (Twilio 60223). */
  | { status: 'channel_disabled'; channel: Channel; message: string }
  /** Text messages may not go to this number's country (Twilio 21408); calls have their own permissions. */
  | { status: 'region_not_enabled'; channel: Channel; message: string }
  /** Codes may not go to this number's country on any channel (Twilio 60605). */
  | { status: 'country_not_allowed'; message: string }
  /** The number is blocked as a suspected fraud target (Twilio 60410). */
  | { status: 'number_blocked'; message: string }
  | { status: 'invalid_number'; message: string }
  | { status: 'rate_limited'; message: string }
  /** Nothing was sent: the provider could not be reached, or refused the request itself. */
  | { status: 'unavailable'; message: string };

/**
 * True when a start may have sent a code although it did not say so: such a send counts
 * toward the limits and the cooldown, or a slow provider would let codes go out uncounted.
 */
export function mayHaveSent(outcome: StartOutcome): boolean {
  return outcome.status === 'unconfirmed' || (outcome.status === 'channel_failed' && outcome.maybeSent);
}

export type StartResult = StartOutcome & ProviderDetails;

export type CheckOutcome =
  | { status: 'approved' }
  | { status: 'wrong_code'; message: string }
  | { status: 'expired'; message: string }
  | { status: 'too_many_attempts'; message: string }
  /** The provider refused the check itself as malformed (Twilio 60200): no code was judged. */
  | { status: 'invalid_request'; message: string }
  | { status: 'rate_limited'; message: string }
  | { status: 'unavailable'; message: string };

export type CheckResult = CheckOutcome & ProviderDetails;

export interface CodeSender {
  readonly name: 'console' | 'twilio';
  /** Sends a new code (or the pending one again) to an E.164 number on a channel. */
  start(to: string, channel: Channel): Promise<StartResult>;
  /**
   * Checks a code against the verification `start` answered with (its `sid`), never against
   * whatever else may be pending for the same number.
   */
  check(verificationSid: string, code: string): Promise<CheckResult>;
}

export const MESSAGES = {
  wrongCode: 'That code is not right. Check the latest message and try again.',
  expired: 'That code has expired or was already used. Send a new code.',
  tooManyAttempts: 'Too many wrong codes. That code no longer works: send a new one.',
  invalidRequest: 'That code could not be checked. Send a new code and enter the one from the latest message.',
  rateLimited: 'Too many codes were asked for this number. Wait a few minutes, then try again.',
  unavailable: 'Codes cannot be sent or checked right now. Nothing was changed. Please try again in a minute.',
  unconfirmed: 'We could not confirm that a code was sent: the code service did not say whether it went out.',
  invalidNumber: 'That phone number cannot receive codes. Check the number.',
  smsUnsupported: 'This number cannot receive text messages.',
  numberBlocked:
    'No code was sent: text messages to this number are blocked for now, to protect against fraud. Ask for a call instead, use another number, or contact support.',
  countryNotAllowed: 'No code was sent: codes cannot go to phone numbers in this country. Use a number from another country, or contact support.',
  smsRegionNotEnabled:
    'No code was sent: text messages cannot go to phone numbers in this country. Ask for a call instead, use a number from another country, or contact support.',
  smsDisabled: 'No code was sent: codes by text message are turned off here. Ask for a call instead, or contact support.',
  callDisabled: 'No code was sent: codes by phone call are turned off here. Ask for a text message instead, or contact support.',
} as const;
