// What the account forms accept (read with parseForm from core/forms), and what is shown back
// of what the person typed (passwords excepted).
import { z } from 'zod';
import { formText, typedText } from '../../core/forms.js';
import { MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, newPasswordProblems, normaliseEmail } from '../../accounts/index.js';
import { MAX_PASSKEY_ANSWER } from '../../factors/index.js';
import { PASSWORD_PROBLEMS, signUpProblems } from '../messages.js';

const text = formText();

export const emailField = text
  .transform(normaliseEmail)
  .pipe(
    z
      .string()
      .min(1, 'Enter your email address.')
      .max(MAX_EMAIL_LENGTH, `Use an email address of at most ${MAX_EMAIL_LENGTH} characters.`)
      .pipe(z.email('Enter an email address like name@example.com.')),
  );

// Only presence and an upper bound here: the rules for new passwords live in passwords.ts.
const passwordField = (missing: string) =>
  text.pipe(
    z
      .string()
      .min(1, missing)
      .max(MAX_PASSWORD_LENGTH * 4, PASSWORD_PROBLEMS.too_long),
  );

/** A checkbox: on or off. */
export const rememberField = z.preprocess((value) => value === 'on' || value === 'true' || value === '1', z.boolean());

export const signUpForm = z
  .object({
    email: emailField,
    password: passwordField('Choose a password.'),
    passwordConfirmation: passwordField('Type the password again.'),
    next: text,
  })
  // Checked here too, not only by the service, so that a wrong email and a weak password are
  // both reported at once; a field's own message (such as "Choose a password.") comes first.
  .superRefine((form, context) => {
    if (!form.password) return;
    const problems = signUpProblems(newPasswordProblems(form.password, form.passwordConfirmation, String(form.email)));
    for (const [field, message] of Object.entries(problems))
      context.addIssue({ code: 'custom', path: [field], message });
  });

export const signInForm = z.object({
  email: emailField,
  password: passwordField('Enter your password.'),
  remember: rememberField,
  next: text,
});

export const confirmPasswordForm = z.object({
  password: passwordField('Enter your password.'),
  next: text,
});

/** The email as typed, for showing back in the form. */
export function typedEmail(body: unknown): string {
  return typedText(body, 'email', MAX_EMAIL_LENGTH);
}

export const forgotPasswordForm = z.object({ email: emailField });

/** A new password typed twice (reset, change): presence here, the rules in the service's answer. */
const newPassword = {
  password: passwordField('Choose a new password.'),
  passwordConfirmation: passwordField('Type the new password again.'),
};

export const resetPasswordForm = z.object(newPassword);

export const changePasswordForm = z.object({
  currentPassword: passwordField('Enter your current password.'),
  ...newPassword,
});

export const changeEmailForm = z.object({ email: emailField });

export const noticesForm = z.object({ newBrowser: rememberField });
/** The session named in a "Your sessions" sign-out's path: a row id, or an API sign-in's family. */
export const sessionParams = z.object({ id: z.uuid() });

/** The delete-account form: the account's email typed to confirm and, with 2FA on, a way and its code. */
/** A passkey's answer: WebAuthn's JSON, put in a hidden field by public/js/passkeys.js; bounded, the factor judges it. */
export const passkeyAnswer = formText(
  MAX_PASSKEY_ANSWER,
  'Your browser sent too much: that is not a passkey. Please try again.',
);

export const deleteAccountForm = z.object({
  confirmation: text.transform(normaliseEmail).pipe(z.string().min(1, 'Type the email address of your account.')),
  factor: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.uuid('Choose one of your ways to sign in.').optional(),
  ),
  code: formText(64, 'A code is at most 64 characters.'),
  /** A passkey's answer, when the way chosen is a passkey. */
  credential: passkeyAnswer,
});

/** "Text me a code" / "Call me" on the delete-account page: which phone, and how. */
export const deletionCodeForm = z.object({
  factor: z.uuid(),
  via: z.enum(['sms', 'call']),
});
