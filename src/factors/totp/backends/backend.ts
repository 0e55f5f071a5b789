export type TotpReason = 'wrong_code' | 'replayed' | 'unavailable' | 'rate_limited' | 'not_found';
export interface TotpEnrolmentStart {
  uri: string;
  secret: string /* base32, shown once */;
  pending: Record<string, string>; /* kept in the session until verified; never a clear secret */
}
export interface TotpStored {
  secretBox?: string | null;
  lastStep?: number | null;
  twilioEntity?: string | null;
  twilioFactorSid?: string | null;
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
