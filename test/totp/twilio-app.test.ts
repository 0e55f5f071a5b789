// Authenticator apps on Twilio Verify's TOTP factors, through the pages, with the real SDK
// against the stand-in: set up from the key shown (codes computed here on the stand-in's
// clock), signed in with, refused when replayed, failing closed when Twilio is down, removed at
// Twilio with the factor; and apps set up on one back end keep working after TOTP_PROVIDER
// changes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import {
  confirmPassword,
  csrfTokenIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { appOnTwilio, startAppOnTwilio, startTwilioStandIn } from '../support/twilio.js';
import { codeFor, openSetup, PERIOD_MS } from './support.js';

describe('authenticator apps on Twilio Verify', () => {
  const twilio = appOnTwilio();
  const prisma = () => twilio.app.services.database.prisma;
  const standIn = () => twilio.standIn;

  /** The step the stand-in's clock is in, moved to the middle of a fresh step so no code ages out mid-test. */
  function freshStep(): number {
    const now = standIn().currentTime();
    standIn().advanceClock(PERIOD_MS + PERIOD_MS / 2 - (now % PERIOD_MS));
    return Math.floor(standIn().currentTime() / PERIOD_MS);
  }

  async function personWithTwilioApp() {
    const agent = twilio.app.agent();
    const person = await signUp(agent);
    const { key } = await openSetup(agent);
    const done = await submitForm(agent, '/account/totp', '/account/totp', { code: codeFor(key, freshStep()) });
    assert.equal(done.status, 303, 'the app is set up');
    assert.equal(done.headers.location, '/account/recovery-codes');
    const user = await prisma().user.findUniqueOrThrow({ where: { email: person.email } });
    const factor = await prisma().userFactor.findFirstOrThrow({ where: { userId: user.id, kind: 'totp' } });
    return { ...person, agent, key, user, factor };
  }

  async function passwordStep(email: string): Promise<Agent> {
    const agent = twilio.app.agent();
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.headers.location, '/login/2fa');
    return agent;
  }

  const enterCode = (agent: Agent, code: string) => submitForm(agent, '/login/2fa', '/login/2fa', { code });

  it('sets the app up as a Twilio factor under the user id, keeping only its SIDs, never the secret', async () => {
    const { key, user, factor } = await personWithTwilioApp();
    assert.equal(factor.totpSecret, null, 'no secret is stored here');
    assert.equal(factor.twilioEntity, user.id, 'the Entity is the user id, not the email');
    assert.match(factor.twilioFactorSid!, /^YF[0-9a-f]{32}$/);
    assert.equal(standIn().factors.factor(factor.twilioFactorSid!)?.status, 'verified');
    const rows = await prisma().$queryRaw<Array<Record<string, unknown>>>`SELECT * FROM user_factors`;
    assert.ok(!JSON.stringify(rows).includes(key), 'the key is nowhere in user_factors');
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'two_factor_enabled' },
    });
    assert.deepEqual(event.detail, { kind: 'totp', backend: 'twilio' });
  });

  it('signs in with the next code, through an approved challenge, and refuses it a second time', async () => {
    const { email, key, factor } = await personWithTwilioApp();
    const step = freshStep();
    const agent = await passwordStep(email);
    const page = await agent.get('/login/2fa').expect(200);
    assert.match(page.text, /authenticator app/);
    assert.equal((await enterCode(agent, codeFor(key, step + 5))).status, 422, 'a code far from now is wrong');
    const done = await enterCode(agent, codeFor(key, step));
    assert.equal(done.status, 303);
    await agent.get('/account').expect(200);
    const checked = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: factor.userId, type: 'code_checked', outcome: 'ok' },
      orderBy: { id: 'desc' },
    });
    assert.deepEqual(checked.detail, { purpose: 'sign_in', kind: 'totp', backend: 'twilio' });

    const again = await passwordStep(email);
    const replayed = await enterCode(again, codeFor(key, step));
    assert.equal(replayed.status, 422, 'the same code does not sign in twice');
    await again.get('/account').expect(303);
  });

  it('sets up one app from a double submit, keeps it working, and still shows the recovery codes', async () => {
    const agent = twilio.app.agent();
    const { email } = await signUp(agent);
    const { key, html } = await openSetup(agent);
    const code = codeFor(key, freshStep());
    const token = csrfTokenIn(html);
    // Slow answers from Twilio, as when a person clicks Verify again while waiting.
    standIn().faults.delayMs = 300;
    let answers;
    try {
      answers = await Promise.all(
        [0, 1, 2].map(() => agent.post('/account/totp').type('form').send({ _csrf: token, code })),
      );
    } finally {
      standIn().resetFaults();
    }
    const places = answers.map((answer) => answer.headers.location).sort();
    assert.deepEqual(
      places,
      ['/account', '/account', '/account/recovery-codes'],
      'one setup, the others change nothing',
    );
    const factors = await prisma().userFactor.findMany({ where: { kind: 'totp', user: { email } } });
    assert.equal(factors.length, 1);
    assert.equal(standIn().factors.factor(factors[0]!.twilioFactorSid!)?.status, 'verified', 'still at Twilio');
    const shown = await agent.get('/account/recovery-codes').expect(200);
    assert.equal((shown.text.match(/<li><code>/g) ?? []).length, 10, 'the codes are there to be shown');
    const signingIn = await passwordStep(email);
    assert.equal((await enterCode(signingIn, codeFor(key, freshStep()))).status, 303, 'the app signs in');
  });

  it('refuses a code a second time even where Twilio would take it again, in parallel too', async () => {
    const { email, key } = await personWithTwilioApp();
    standIn().factors.totp.allowReplay = true;
    try {
      const step = freshStep();
      const agents = await Promise.all([passwordStep(email), passwordStep(email), passwordStep(email)]);
      const answers = await Promise.all(agents.map((agent) => enterCode(agent, codeFor(key, step))));
      assert.deepEqual(
        answers.map((answer) => answer.status).sort(),
        [303, 422, 422],
        'one code, one sign-in, however many bring it at once',
      );
      const later = await passwordStep(email);
      const replayed = await enterCode(later, codeFor(key, step));
      assert.equal(replayed.status, 422);
      assert.match(replayed.text, /That code was already used/);
      await later.get('/account').expect(303);
    } finally {
      standIn().factors.totp.allowReplay = false;
    }
  });

  it('does not sign in with the code that set the app up, even where Twilio would take it again', async () => {
    standIn().factors.totp.allowReplay = true;
    try {
      const agent = twilio.app.agent();
      const { email } = await signUp(agent);
      const { key } = await openSetup(agent);
      const code = codeFor(key, freshStep());
      assert.equal((await submitForm(agent, '/account/totp', '/account/totp', { code })).status, 303);
      const signingIn = await passwordStep(email);
      assert.equal((await enterCode(signingIn, code)).status, 422);
    } finally {
      standIn().factors.totp.allowReplay = false;
    }
  });

  it('lets nobody in while Twilio is down, says so calmly, and counts no wrong code', async () => {
    const { email, key, user } = await personWithTwilioApp();
    const step = freshStep();
    const agent = await passwordStep(email);
    standIn().faults.down = true;
    try {
      const refused = await enterCode(agent, codeFor(key, step));
      assert.equal(refused.status, 503);
      // The connection dropped after the code went out: Twilio may have used it.
      assert.match(refused.text, /We could not confirm that your code was checked/);
      assert.doesNotMatch(refused.text, /at .*\.ts:\d+/, 'no stack trace');
    } finally {
      standIn().resetFaults();
    }
    await agent.get('/account').expect(303);
    const checked = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'code_checked', detail: { path: ['purpose'], equals: 'sign_in' } },
      orderBy: { id: 'desc' },
    });
    assert.equal(checked.outcome, 'unconfirmed');
    const done = await enterCode(agent, codeFor(key, step));
    assert.equal(done.status, 303, 'once Twilio is back, the same code signs in');
  });

  it('says an app cannot be set up right now when Twilio is down, and keeps 2FA as it was', async () => {
    const agent = twilio.app.agent();
    const { email } = await signUp(agent);
    await confirmPassword(agent);
    standIn().faults.down = true;
    try {
      const refused = await agent.get('/account/totp').expect(303);
      assert.equal(refused.headers.location, '/account');
    } finally {
      standIn().resetFaults();
    }
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /An authenticator app cannot be set up right now/);
    assert.equal(await prisma().userFactor.count({ where: { user: { email } } }), 0);
  });

  it('removes the factor at Twilio when the person removes the app', async () => {
    const { agent, factor } = await personWithTwilioApp();
    await confirmPassword(agent);
    const removed = await submitForm(agent, '/account/totp/remove', '/account/totp/remove', {});
    assert.equal(removed.status, 303);
    assert.equal(await prisma().userFactor.count({ where: { id: factor.id } }), 0);
    assert.equal(standIn().factors.factor(factor.twilioFactorSid!), undefined, 'the factor is gone at Twilio too');
  });
});

describe('changing TOTP_PROVIDER keeps every app working', () => {
  let standIn: TwilioStandIn;
  let onTwilio: TestApp;
  let onLocal: TestApp;
  // One deployment: the same database and the same encryption key, two settings.
  const keys = `k1:${randomBytes(32).toString('base64')}`;
  before(async () => {
    standIn = await startTwilioStandIn();
    onTwilio = await startAppOnTwilio(standIn, { env: { TOTP_ENCRYPTION_KEYS: keys } });
    onLocal = await startAppOnTwilio(standIn, {
      databaseUrl: onTwilio.databaseUrl,
      env: { TOTP_ENCRYPTION_KEYS: keys, TOTP_PROVIDER: 'local' },
    });
  });
  after(async () => {
    await onLocal?.close();
    await onTwilio?.close();
    await standIn?.stop();
  });

  /** Sets an app up on `app`; the code is computed on the clock that back end checks with. */
  async function setUpOn(app: TestApp, clock: () => number) {
    const agent = app.agent();
    const person = await signUp(agent);
    const { key } = await openSetup(agent);
    const step = Math.floor(clock() / PERIOD_MS);
    const done = await submitForm(agent, '/account/totp', '/account/totp', { code: codeFor(key, step) });
    assert.equal(done.status, 303);
    return { ...person, key, step };
  }

  async function signsInOn(app: TestApp, email: string, code: string): Promise<number> {
    const agent = app.agent();
    assert.equal((await signIn(agent, email, strongPassword)).headers.location, '/login/2fa');
    return (await submitForm(agent, '/login/2fa', '/login/2fa', { code })).status;
  }

  it('an app set up locally signs in where new apps go to Twilio, and the other way round', async () => {
    // Each back end checks on its own clock: the stand-in's is moved well away from real time,
    // so that a code computed for one would be wrong for the other.
    standIn.advanceClock(10 * PERIOD_MS);
    const local = await setUpOn(onLocal, Date.now);
    const remote = await setUpOn(onTwilio, () => standIn.currentTime());
    const prisma = onTwilio.services.database.prisma;
    const factorOf = (email: string) =>
      prisma.userFactor.findFirstOrThrow({ where: { kind: 'totp', user: { email } } });
    const [localRow, remoteRow] = await Promise.all([factorOf(local.email), factorOf(remote.email)]);
    assert.ok(localRow.totpSecret && !localRow.twilioFactorSid, 'set up locally: the secret here, encrypted');
    assert.ok(remoteRow.twilioFactorSid && !remoteRow.totpSecret, 'set up on Twilio: kept there');

    // Each app's next code, each on its own back end, through the instance set the other way.
    standIn.advanceClock(PERIOD_MS);
    assert.equal(await signsInOn(onTwilio, local.email, codeFor(local.key, local.step + 1)), 303);
    assert.equal(await signsInOn(onLocal, remote.email, codeFor(remote.key, remote.step + 1)), 303);
  });
});
