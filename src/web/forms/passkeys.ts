// What the passkey forms accept: the name a person gives a passkey, and the browser's answer
// (WebAuthn's JSON, put in a hidden field by public/js/passkeys.js), bounded; the factor judges it.
import { z } from 'zod';
import { formText } from '../../core/forms.js';
import { MAX_PASSKEY_NAME } from '../../factors/index.js';
import { passkeyAnswer as answer, rememberField } from './accounts.js';

// eslint-disable-next-line no-control-regex -- these are what is refused
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;

export const addPasskeyForm = z.object({
  name: formText()
    .transform((name) => name.normalize('NFC').replace(/\s+/g, ' ').trim())
    .pipe(
      z
        .string()
        .min(1, 'Enter a name for the passkey, like “Work laptop”.')
        .max(MAX_PASSKEY_NAME, `Use at most ${MAX_PASSKEY_NAME} characters.`)
        // Control characters (C0 and C1), invisible and direction-changing ones: a name shows as typed.
        .refine((name) => !INVISIBLE.test(name), 'Use letters, digits and punctuation only.'),
    ),
  credential: answer,
});

/** The sign-in step's form: its answer, read as the step's `code`. */
export const passkeyAnswerForm = z.object({ credential: answer }).transform(({ credential }) => ({ code: credential }));

/** "Sign in with a passkey" on /login: the answer, and the password form's "Remember me" as the script copied it. */
export const passwordlessForm = z.object({ credential: answer, remember: rememberField, next: formText() });

export const passkeyParams = z.object({ id: z.uuid() });
