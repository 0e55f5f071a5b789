// What the API's JSON bodies must hold, read with zod: a body that is not an object, or a
// field of the wrong type, is a 400 naming the field.
import { z } from 'zod';
import { MAX_EMAIL_LENGTH, normaliseEmail } from '../accounts/index.js';

/** A string field of at most `max` characters. */
const text = (max: number) => z.string().max(max);

export const sendVerificationBody = z.object({ phone_number: text(32) });
export const verifyCodeBody = z.object({ phone_number: text(32), code: text(32) });
export const sendOtpBody = z.object({ phoneNumber: text(32) });
export const verifyOtpBody = z.object({ phoneNumber: text(32), code: text(32) });
export const revokeBody = z.object({ token: text(8192), token_type_hint: text(64).optional() });

export const tokenRequest = z.object({ grant_type: text(200) });
/** Each grant's fields (RFC 6749; Auth0's MFA grants). */
export const grantBodies = {
  // Read as the sign-in page reads it: trimmed and lower-cased, and an email address (no NUL).
  password: z.object({
    email: text(MAX_EMAIL_LENGTH + 64)
      .transform(normaliseEmail)
      .pipe(z.email().max(MAX_EMAIL_LENGTH)),
    password: text(1024),
  }),
  'mfa-otp': z.object({ mfa_token: text(128), otp: text(32) }),
  'mfa-oob': z.object({ mfa_token: text(128), oob_code: text(128), binding_code: text(32) }),
  'mfa-recovery-code': z.object({ mfa_token: text(128), recovery_code: text(64) }),
  refresh_token: z.object({ refresh_token: text(128) }),
};
export const challengeBody = z.object({
  mfa_token: text(128),
  authenticator_id: text(128),
  challenge_type: z.enum(['otp', 'oob']).optional(),
});

/** The body read by `schema`, or the sentence naming what is wrong with it. */
export function readBody<T>(
  schema: z.ZodType<T>,
  body: unknown,
): { ok: true; data: T } | { ok: false; message: string } {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return { ok: true, data: parsed.data };
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.');
  if (!field) return { ok: false, message: 'The body must be a JSON object.' };
  if (issue?.code === 'too_big') return { ok: false, message: `${field} is too long.` };
  if (issue?.code === 'invalid_format') return { ok: false, message: `${field} is not valid.` };
  return { ok: false, message: `${field} is required and must be a string.` };
}
