// One small interface for whoever delivers and checks codes: Twilio Verify in production, the
// console in development. Outcomes are typed (no prose: the web layer words them), so callers
// never parse provider errors.
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
  | { status: 'channel_failed'; channel: Channel; maybeSent: boolean }
  /**
   * The request went out but no answer came back (time-out, connection lost, a 5xx): the code
   * may or may not be on its way.
   */
  | { status: 'unconfirmed'; channel: Channel }
  /** The service does not deliver codes on this channel at all (Twilio 60223). */
  | { status: 'channel_disabled'; channel: Channel }
  /** Text messages may not go to this number's country (Twilio 21408); calls have their own permissions. */
  | { status: 'region_not_enabled'; channel: Channel }
  /** Codes may not go to this number's country on any channel (Twilio 60605). */
  | { status: 'country_not_allowed' }
  /** The number is blocked as a suspected fraud target (Twilio 60410). */
  | { status: 'number_blocked' }
  | { status: 'invalid_number' }
  | { status: 'rate_limited' }
  /** Nothing was sent: the provider could not be reached, or refused the request itself. */
  | { status: 'unavailable' };

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
  | { status: 'wrong_code' }
  | { status: 'expired' }
  | { status: 'too_many_attempts' }
  /** The provider refused the check itself as malformed (Twilio 60200): no code was judged. */
  | { status: 'invalid_request' }
  | { status: 'rate_limited' }
  | { status: 'unavailable' };

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
