// Helpers for the authenticator-app tests: codes computed here, from the key the setup page
// shows, as an authenticator app would.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Secret, TOTP } from 'otpauth';
import { confirmPassword, signUp, submitForm, type Agent } from '../support/app.js';

export const PERIOD_MS = 30_000;

/** The time step of `at` (RFC 6238: 30-second steps since the epoch). */
export const stepOf = (at = Date.now()) => Math.floor(at / PERIOD_MS);

/** The code an app with `key` shows during time step `step`. */
export function codeFor(key: string, step: number): string {
  const totp = new TOTP({ secret: Secret.fromBase32(key), algorithm: 'SHA1', digits: 6, period: 30 });
  return totp.generate({ timestamp: step * PERIOD_MS + 1 });
}

/**
 * Waits, when needed, until at least `seconds` remain in the current step, so that a test's
 * idea of "the current step" holds while it runs; returns that step.
 */
export async function roomInStep(seconds = 12): Promise<number> {
  const left = PERIOD_MS - (Date.now() % PERIOD_MS);
  if (left < seconds * 1000) await sleep(left + 50);
  return stepOf();
}

/** The key shown on the setup page, without its grouping spaces. */
export function keyIn(html: string): string {
  const match = /data-totp-key>([A-Z2-7 ]+)</.exec(html);
  assert.ok(match?.[1], 'the setup page shows the key');
  return match[1].replace(/ /g, '');
}

/** Opens the setup page (after confirming the password) and returns its HTML and the key. */
export async function openSetup(agent: Agent): Promise<{ html: string; key: string }> {
  await confirmPassword(agent);
  const page = await agent.get('/account/totp').expect(200);
  return { html: page.text, key: keyIn(page.text) };
}

/** A new person, signed in, with an authenticator app set up with the code of `step` (default: now). */
export async function personWithApp(agent: Agent, step?: number) {
  const person = await signUp(agent);
  const { key } = await openSetup(agent);
  const done = await submitForm(agent, '/account/totp', '/account/totp', { code: codeFor(key, step ?? stepOf()) });
  assert.equal(done.status, 303, 'the app is set up');
  assert.equal(done.headers.location, '/account/recovery-codes', 'then its recovery codes, shown once');
  return { ...person, key };
}
