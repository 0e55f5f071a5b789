// The local back end: RFC 6238 (SHA-1, 6 digits, 30-second steps) computed here, the secret
// kept in our table sealed with the secret box (src/core/secret-box.ts). A code is accepted for
// the current step and one step either side (clocks drift); a code for a step at or before the
// last one accepted is refused as replayed, so a code works once, even within its window.
import { Secret, TOTP } from 'otpauth';
import type { SecretBox } from '../../../core/secret-box.js';
import type { TotpBackend, TotpStored } from './backend.js';

export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted either side of now. */
const WINDOW = 1;
/** What the box's authenticated data says a sealed value is for. */
const PURPOSE = 'totp-secret';

export function localTotpBackend(deps: { box: SecretBox; issuer: string; now?: () => number }): TotpBackend {
  const { box, issuer } = deps;
  const now = deps.now ?? Date.now;

  const totpOf = (secret: Secret, label = 'account') =>
    new TOTP({ issuer, label, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, secret });

  /** The step `code` is right for, within the window; undefined when it is right for none. */
  function stepOf(base32: string, code: string): number | undefined {
    const totp = totpOf(Secret.fromBase32(base32));
    const timestamp = now();
    const delta = totp.validate({ token: code, timestamp, window: WINDOW });
    return delta === null ? undefined : totp.counter({ timestamp }) + delta;
  }

  function check(
    stored: TotpStored,
    code: string,
  ): { ok: true; stored: TotpStored } | { ok: false; reason: 'wrong_code' | 'replayed' | 'not_found' | 'unavailable' } {
    if (!stored.secretBox) return { ok: false, reason: 'not_found' };
    const base32 = box.open(stored.secretBox, PURPOSE);
    // A secret no configured key opens (a key dropped too early): fail closed, and say so.
    if (base32 === undefined) return { ok: false, reason: 'unavailable' };
    const step = stepOf(base32, code);
    if (step === undefined) return { ok: false, reason: 'wrong_code' };
    if (stored.lastStep !== null && stored.lastStep !== undefined && step <= stored.lastStep)
      return { ok: false, reason: 'replayed' };
    // A secret sealed with an older key is sealed again with the current one: rotation completes as people sign in.
    const secretBox = box.isStale(stored.secretBox) ? box.seal(base32, PURPOSE) : stored.secretBox;
    return { ok: true, stored: { ...stored, secretBox, lastStep: step } };
  }

  return {
    name: 'local',

    start(person) {
      const secret = new Secret({ size: 20 });
      return Promise.resolve({
        ok: true,
        start: {
          uri: totpOf(secret, person.accountName).toString(),
          secret: secret.base32,
          pending: { secretBox: box.seal(secret.base32, PURPOSE) },
        },
      });
    },

    finish(pending, code) {
      const secretBox = pending.secretBox;
      if (!secretBox) return Promise.resolve({ ok: false, reason: 'not_found' });
      return Promise.resolve(check({ secretBox, lastStep: null }, code));
    },

    verify: (stored, code) => Promise.resolve(check(stored, code)),

    // Nothing beside the row.
    remove: () => Promise.resolve(),
  };
}
