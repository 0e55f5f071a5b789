// Email addresses as accounts keep them: normalised (Unicode NFC, trimmed, lower-cased), so the
// unique index on users.email is case-insensitive; at most 254 characters (RFC 5321's path limit).
export const MAX_EMAIL_LENGTH = 254;

export function normaliseEmail(value: string): string {
  return value.normalize('NFC').trim().toLowerCase();
}
