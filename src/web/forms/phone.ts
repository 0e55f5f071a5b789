// What the phone and code forms accept, read with parseForm (core/forms). The admin test bench
// uses the same fields.
import { isSupportedCountry } from 'libphonenumber-js/max';
import { z } from 'zod';
import { formText } from '../../core/forms.js';
import { MAX_PHONE_INPUT } from '../../factors/index.js';
import { CODE_IS_SIX_DIGITS, PHONE_DIGITS_ONLY } from '../messages.js';

// Room for a 6-digit code typed with spaces or dashes; readCode judges the rest.
const MAX_TYPED_CODE = 64;

/** A phone number as typed, bounded; parsePhone judges the rest. */
export const phoneField = formText(MAX_PHONE_INPUT, PHONE_DIGITS_ONLY);

/** The country picker: a value no country has (nobody types into a select) reads as none chosen. */
export const countryField = formText().transform((code) => (isSupportedCountry(code) ? code : ''));

export const codeForm = z.object({ code: formText(MAX_TYPED_CODE, CODE_IS_SIX_DIGITS) });

export const phoneForm = z.object({ phone: phoneField, country: countryField });
