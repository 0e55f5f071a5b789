// Phone numbers: read what a person typed (international, or national with a country), keep
// only valid numbers, store E.164, and show them masked everywhere but the form.
import {
  getCountries,
  getCountryCallingCode,
  isSupportedCountry,
  parsePhoneNumberFromString,
  type CountryCode,
} from 'libphonenumber-js/max';

/** Why what was typed is not a phone number codes can go to. */
export type PhoneProblem = 'missing' | 'not_digits' | 'invalid' | 'invalid_for_country' | 'extension';

export type PhoneParse =
  | { ok: true; e164: string; country: CountryCode | undefined; type: string | undefined }
  | { ok: false; reason: PhoneProblem };

/** The longest phone number input read (and shown back); a real one is far shorter. */
export const MAX_PHONE_INPUT = 64;

function isCountry(code: string): code is CountryCode {
  return isSupportedCountry(code);
}

export function parsePhone(input: string, country: string): PhoneParse {
  // People type spaces, dots, dashes, brackets and a leading 00; all of that is fine.
  const typed = input.normalize('NFKC').trim();
  if (!typed) return { ok: false, reason: 'missing' };
  if (typed.length > MAX_PHONE_INPUT || /[^\d\s+().\-/]/.test(typed.replace(/\s*(ext\.?|x)\s*\d+$/i, ''))) {
    return { ok: false, reason: 'not_digits' };
  }
  const international = typed.replace(/^00/, '+');
  const phone = parsePhoneNumberFromString(international, isCountry(country) ? country : undefined);
  if (!phone || !phone.isValid()) {
    return { ok: false, reason: international.startsWith('+') ? 'invalid' : 'invalid_for_country' };
  }
  if (phone.ext) return { ok: false, reason: 'extension' };
  return { ok: true, e164: phone.number, country: phone.country, type: phone.getType() };
}

/** The country of a stored E.164 number (two letters), when it has one. */
export function countryOf(e164: string): string | undefined {
  return parsePhoneNumberFromString(e164)?.country;
}

/** "+33 6 12 34 56 78" becomes "+33 • •• •• •• 78": enough to recognise, too little to use. */
export function maskPhone(e164: string): string {
  const phone = parsePhoneNumberFromString(e164);
  if (!phone) return '•••';
  const callingCode = `+${phone.countryCallingCode}`;
  const national = phone.formatInternational().slice(callingCode.length);
  let keep = 2;
  const masked = [...national]
    .reverse()
    .map((char) => {
      if (!/\d/.test(char)) return char;
      if (keep > 0) {
        keep -= 1;
        return char;
      }
      return '•';
    })
    .reverse()
    .join('');
  return `${callingCode}${masked}`;
}

/** For log lines and the audit trail: the country code and the last two digits, no more. */
export function phoneHint(e164: string): string {
  return `${e164.slice(0, 3)}…${e164.slice(-2)}`;
}

export interface CountryOption {
  code: string;
  name: string;
  callingCode: string;
}

let countryOptions: CountryOption[] | undefined;

export function countries(): CountryOption[] {
  if (!countryOptions) {
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    countryOptions = getCountries()
      .map((code) => ({ code, name: names.of(code) ?? code, callingCode: getCountryCallingCode(code) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
  return countryOptions;
}
