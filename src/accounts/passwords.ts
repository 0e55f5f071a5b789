// Password rules after NIST SP 800-63B: a minimum length, long passphrases welcome, no
// composition rules, common and context-specific passwords refused. Hashes are argon2id with
// at least OWASP's minimum parameters.
import argon2 from 'argon2';
import { dictionary } from '@zxcvbn-ts/language-common';

export const MIN_PASSWORD_LENGTH = 8;
// Generous for passphrases, small enough that a huge input cannot be used to burn CPU.
export const MAX_PASSWORD_LENGTH = 256;

// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB of memory, 2 iterations, 1 lane.
const HASH_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

const commonPasswords = new Set(
  dictionary['passwords-common'].filter((word) => word.length >= MIN_PASSWORD_LENGTH).map((word) => word.toLowerCase()),
);

/** NIST asks for Unicode normalisation so the same password typed on another device matches. */
export function normalisePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Length in characters as a person counts them, not UTF-16 units. */
function characterCount(text: string): number {
  return [...text].length;
}

/** Why a new password is refused. The web layer words each one (src/web/messages.ts). */
export type PasswordProblem = 'too_short' | 'too_long' | 'control_characters' | 'common' | 'is_email' | 'repeated';

/** Why a new password and its confirmation are refused, by field; empty when they are not. */
export interface NewPasswordProblems {
  password?: PasswordProblem;
  passwordConfirmation?: 'mismatch';
}

/** Why a new password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string, email: string): PasswordProblem | undefined {
  const length = characterCount(password);
  if (length < MIN_PASSWORD_LENGTH) return 'too_short';
  if (length > MAX_PASSWORD_LENGTH) return 'too_long';
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(password)) return 'control_characters';
  const lowered = password.toLowerCase();
  if (commonPasswords.has(lowered)) return 'common';
  const localPart = email.split('@')[0] ?? '';
  if (lowered === email || (localPart.length >= 3 && lowered === localPart)) return 'is_email';
  if (new Set(password).size === 1) return 'repeated';
  return undefined;
}

/** Every problem with a new password and its confirmation, by field; empty when there is none. */
export function newPasswordProblems(password: string, confirmation: string, email: string): NewPasswordProblems {
  const normalised = normalisePassword(password);
  const problem = passwordProblem(normalised, email);
  const mismatch = normalised !== normalisePassword(confirmation);
  return {
    ...(problem ? { password: problem } : {}),
    ...(mismatch ? { passwordConfirmation: 'mismatch' as const } : {}),
  };
}

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, HASH_OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    // A malformed stored hash must never let anyone in.
    return false;
  }
}

/** True when the stored hash was made with weaker parameters than today's. */
export function hashNeedsUpgrade(hash: string): boolean {
  return argon2.needsRehash(hash, HASH_OPTIONS);
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the same time as checking a real password, for unknown emails, so response time
 * does not reveal which emails have an account.
 */
export async function spendVerificationTime(password: string): Promise<void> {
  dummyHash ??= hashPassword('a password no account has, used for timing only');
  await verifyPassword(await dummyHash, password);
}
