// What the passkey forms accept: the name a person gives a passkey, and the browser's answer
// (WebAuthn's JSON, put in a hidden field by public/js/passkeys.js), bounded; the factor judges it.
import { z } from 'zod';
import { formText } from '../../core/forms.js';
import { MAX_PASSKEY_ANSWER, MAX_PASSKEY_NAME } from '../../factors/index.js';

const answer = formText(MAX_PASSKEY_ANSWER, 'Your browser sent too much: that is not a passkey. Please try again.');

export const addPasskeyForm = z.object({
  name: formText()
    .transform((name) => name.normalize('NFC').replace(/\s+/g, ' ').trim())
    .pipe(
      z
        .string()
        .min(1, 'Enter a name for the passkey, like “Work laptop”.')
        .max(MAX_PASSKEY_NAME, `Use at most ${MAX_PASSKEY_NAME} characters.`)
        // eslint-disable-next-line no-control-regex -- control characters are what is refused
        .refine((name) => !/[\u0000-\u001f\u007f]/.test(name), 'Use letters, digits and punctuation only.'),
    ),
  credential: answer,
});

/** The sign-in step's form: its answer, read as the step's `code`. */
export const passkeyAnswerForm = z.object({ credential: answer }).transform(({ credential }) => ({ code: credential }));

export const passkeyParams = z.object({ id: z.uuid() });
