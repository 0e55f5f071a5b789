// The vocabulary of the audit trail: every type of event it records, in one list. The trail's
// writers take an AuditType, and the admin area's filter offers exactly these.
export const AUDIT_TYPES = [
  'sign_up',
  'sign_in_password',
  'sign_in',
  'sign_out',
  'password_confirmation',
  'code_sent',
  'code_checked',
  'two_factor_enabled',
  'two_factor_disabled',
  'phone_changed',
  // A set of recovery codes was made (detail: replaced, when it voided the person's old set).
  'recovery_codes_made',
  // A recovery code was used to sign in (detail: how many are left).
  'recovery_code_used',
  // A factor added while another was already on (detail.kind), or removed while another stays
  // on. The first factor of any kind is 'two_factor_enabled', removing the last 'two_factor_disabled'.
  'factor_added',
  'factor_removed',
  // A passkey answered with a signature counter not above the one stored (detail: passkey,
  // stored, presented): refused, since the passkey may have been copied.
  'passkey_counter_regressed',
  // Account self-service by email (src/accounts/self-service.ts) and on /account.
  'email_verification_sent',
  'email_verified',
  // "Forgot password?" (outcome sent, or unknown_account: the page says the same either way).
  'password_reset_requested',
  'password_reset',
  'password_changed',
  'email_change_requested',
  'email_changed',
  // The person turned mail about sign-ins from new browsers on or off (outcome on / off).
  'notice_settings',
  'rate_limited',
  'admin_denied',
  'admin_action',
  'admin_verify',
  // Someone was made an admin from the command line (npm run admin:create), not by an admin.
  'admin_created',
  // The JSON API issued an access token (detail: kind, amr, jti; for a phone, the masked number).
  'token_issued',
  // An access token was revoked before its expiry (detail: jti).
  'token_revoked',
  // A person deleted their account (ok), or was refused (detail: reason). The events of a deleted
  // account keep no user id: they carry its pseudonym (user_pseudonym) instead.
  'account_deleted',
  // "Don't ask again on this browser" (src/accounts/remembered-browsers.ts), detail.browser its
  // row: outcome remembered (after a second factor), used (a sign-in skipped the second factor),
  // forgotten ("Forget" on /account; detail.count). Whatever ends every session forgets them
  // all too, recorded as that change (password_changed, sign_out, admin_action, ...).
  'remembered_browser',
] as const;

export type AuditType = (typeof AUDIT_TYPES)[number];

export function isAuditType(value: unknown): value is AuditType {
  return typeof value === 'string' && (AUDIT_TYPES as readonly string[]).includes(value);
}
