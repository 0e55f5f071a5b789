// The Twilio Verify stand-in, and an app whose real `twilio` SDK talks to it.
import { after, before } from 'node:test';
import { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import {
  confirmPassword,
  signUp,
  startTestApp,
  submitForm,
  type Agent,
  type TestApp,
  type TestAppOptions,
} from './app.js';

export const twilioCredentials = {
  accountSid: `AC${'0123456789abcdef'.repeat(2)}`,
  authToken: 'stand-in-auth-token-for-tests',
  serviceSid: `VA${'fedcba9876543210'.repeat(2)}`,
  /** The JSON API's phone verification has a Verify service of its own. */
  apiServiceSid: `VA${'0123456789abcdef'.repeat(2)}`,
};

export async function startTwilioStandIn(): Promise<TwilioStandIn> {
  const standIn = new TwilioStandIn({ ...twilioCredentials, otherServiceSids: [twilioCredentials.apiServiceSid] });
  await standIn.start();
  return standIn;
}

/** The variables that point an app's real `twilio` SDK at the stand-in at `standInUrl`. */
export function twilioEnv(standInUrl: string): Record<string, string> {
  return {
    CODE_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: twilioCredentials.accountSid,
    TWILIO_AUTH_TOKEN: twilioCredentials.authToken,
    TWILIO_VERIFY_SERVICE_SID: twilioCredentials.serviceSid,
    TWILIO_API_VERIFY_SERVICE_SID: twilioCredentials.apiServiceSid,
    TWILIO_API_BASE_URL: standInUrl,
  };
}

export function startAppOnTwilio(standIn: TwilioStandIn, options: TestAppOptions = {}): Promise<TestApp> {
  return startTestApp({
    ...options,
    env: {
      ...twilioEnv(standIn.url),
      TWILIO_TIMEOUT_MS: '1000',
      ...options.env,
    },
  });
}

/** Turns 2FA on for the signed-in agent, confirming its password, with the code the stand-in "sent". */
export async function turnOnTwoFactor(agent: Agent, standIn: TwilioStandIn, phone: string): Promise<void> {
  await confirmPassword(agent);
  const sent = await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'US' });
  if (sent.status !== 303) throw new Error(`sending the enrolment code failed with ${sent.status}`);
  const e164 = standIn.outbox.at(-1)!.to;
  const verified = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', {
    code: standIn.lastCodeFor(e164)!,
  });
  if (verified.status !== 303) throw new Error(`checking the enrolment code failed with ${verified.status}`);
}

/** A new person with two-factor authentication on at `phone`, signed in on the returned agent. */
export async function personWithTwoFactor(twilio: { app: TestApp; standIn: TwilioStandIn }, phone: string) {
  const agent = twilio.app.agent();
  const person = await signUp(agent);
  await turnOnTwoFactor(agent, twilio.standIn, phone);
  return { ...person, phone, agent };
}

/**
 * For a describe block: a stand-in and an app on it, started before its tests and stopped
 * after. Read `.app` and `.standIn` inside the tests.
 */
export function appOnTwilio(options: TestAppOptions = {}): { app: TestApp; standIn: TwilioStandIn } {
  const running = {} as { app: TestApp; standIn: TwilioStandIn };
  before(async () => {
    running.standIn = await startTwilioStandIn();
    running.app = await startAppOnTwilio(running.standIn, options);
  });
  after(async () => {
    await running.app?.close();
    await running.standIn?.stop();
  });
  return running;
}
