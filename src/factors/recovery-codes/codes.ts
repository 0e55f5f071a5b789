// Recovery codes themselves: how they are made, read back as typed, and hashed for storage.
//
// A code is 10 symbols of Crockford's base 32 (digits and lower-case letters without i, l, o
// and u), shown as two groups of five: "7kq2m-x9hdr". Each symbol is 5 random bits, so a code
// carries 50 bits of entropy. Typed back, case, spaces and dashes do not matter, and the
// letters people confuse with digits read as those digits (o as 0, i and l as 1).
//
// Stored as SHA-256 over the set's id (a random UUID, new with every set: the salt) and the
// code. A fast hash is enough here, unlike for passwords: the codes are random, not chosen by
// people, so there is no dictionary to try first; the salt makes every set its own search, so
// nothing precomputed helps; 2^50 candidates per set must be hashed to find one code of one
// person, and a code is worth something only together with that person's password (itself
// hashed with Argon2). Online guessing is bounded by the wrong-code limit long before.
import { createHash, randomBytes } from 'node:crypto';

/** The `kind` of a set's row in user_factors. */
export const RECOVERY_CODES_KIND = 'recovery_codes';
/** How many codes a set has. */
export const CODES_PER_SET = 10;

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_LENGTH = 10;
const GROUP_LENGTH = 5;
const TYPED = /^[0-9a-hjkmnp-tv-z]{10}$/;

/** A new code, as shown: "xxxxx-xxxxx". */
export function newCode(): string {
  // 256 is a multiple of 32, so the low 5 bits of a random byte are uniform.
  const symbols = [...randomBytes(CODE_LENGTH)].map((byte) => ALPHABET[byte & 31]).join('');
  return `${symbols.slice(0, GROUP_LENGTH)}-${symbols.slice(GROUP_LENGTH)}`;
}

/** A new set of distinct codes, as shown. */
export function newCodes(count = CODES_PER_SET): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(newCode());
  return [...codes];
}

export type RecoveryCodeProblem = 'missing_code' | 'malformed';

/** A code as typed, in the one form that is hashed ("7kq2mx9hdr"), or why it cannot be a code. */
export function readRecoveryCode(raw: string): { ok: true; code: string } | { ok: false; reason: RecoveryCodeProblem } {
  const code = raw
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\-–—._]/g, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
  if (!code) return { ok: false, reason: 'missing_code' };
  if (!TYPED.test(code)) return { ok: false, reason: 'malformed' };
  return { ok: true, code };
}

/** What is stored for `code` (as readRecoveryCode reads it) in the set `setId`: 64 hex digits. */
export function hashRecoveryCode(setId: string, code: string): string {
  return createHash('sha256').update(`recovery-code\0${setId}\0${code}`).digest('hex');
}
