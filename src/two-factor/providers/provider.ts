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
  | { status: 'pending'; channel: Channel }
  /** This channel cannot reach the number (a landline for SMS) or is failing: a call may work. */
  | { status: 'channel_failed'; channel: Channel; message: string }
  | { status: 'invalid_number'; message: string }
  | { status: 'rate_limited'; message: string }
  | { status: 'unavailable'; message: string };

export type StartResult = StartOutcome & ProviderDetails;

export type CheckOutcome =
  | { status: 'approved' }
  | { status: 'wrong_code'; message: string }
  | { status: 'expired'; message: string }
  | { status: 'too_many_attempts'; message: string }
  | { status: 'rate_limited'; message: string }
  | { status: 'unavailable'; message: string };

export type CheckResult = CheckOutcome & ProviderDetails;

export interface VerificationProvider {
  readonly name: 'console' | 'twilio';
  /** Sends a new code (or the pending one again) to an E.164 number on a channel. */
  start(to: string, channel: Channel): Promise<StartResult>;
  /** Checks a code for the pending verification of an E.164 number. */
  check(to: string, code: string): Promise<CheckResult>;
}

export const MESSAGES = {
  wrongCode: 'That code is not right. Check the latest message and try again.',
  expired: 'That code has expired or was already used. Send a new code.',
  tooManyAttempts: 'Too many wrong codes. That code no longer works: send a new one.',
  rateLimited: 'Too many codes were asked for this number. Wait a few minutes, then try again.',
  unavailable: 'Codes cannot be sent or checked right now. Nothing was changed. Please try again in a minute.',
  invalidNumber: 'That phone number cannot receive codes. Check the number.',
  smsUnsupported: 'This number cannot receive text messages.',
} as const;
