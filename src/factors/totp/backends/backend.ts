// What an authenticator-app (TOTP) factor needs of whoever keeps and checks its secret: the app
// itself (local.ts, RFC 6238 with the secret encrypted in our table) or Twilio Verify's TOTP
// factors (twilio.ts). Reasons, never sentences: the web words them.

export type TotpReason =
  | 'wrong_code'
  | 'replayed'
  | 'unavailable'
  /** Twilio may have judged the code but its answer was lost (a time-out, a 5xx): the code may be used up. */
  | 'unconfirmed'
  | 'rate_limited'
  | 'not_found';

export interface TotpEnrolmentStart {
  /** The otpauth:// URI for the QR code (issuer and account name in it). */
  uri: string;
  /** The base32 secret, shown once for typing it in by hand. */
  secret: string;
  /** Kept in the session until the first code is verified; never a clear secret. */
  pending: Record<string, string>;
}

/** What the factor's row keeps for the back end. */
export interface TotpStored {
  secretBox?: string | null;
  lastStep?: number | null;
  twilioEntity?: string | null;
  twilioFactorSid?: string | null;
  /** A hash of the last code accepted (Twilio back end, beside lastStep): the same code is not accepted again. */
  lastCode?: string | null;
}

export interface TotpBackend {
  readonly name: 'local' | 'twilio';
  start(person: {
    userId: string;
    accountName: string;
  }): Promise<{ ok: true; start: TotpEnrolmentStart } | { ok: false; reason: TotpReason }>;
  finish(
    pending: Record<string, string>,
    code: string,
  ): Promise<{ ok: true; stored: TotpStored } | { ok: false; reason: TotpReason }>;
  verify(
    stored: TotpStored,
    code: string,
  ): Promise<{ ok: true; stored: TotpStored } | { ok: false; reason: TotpReason }>;
  remove(stored: TotpStored): Promise<void>;
}
