// Re-authentication under concurrency, over real HTTP against real Redis and Postgres: wrong
// password confirmations count toward the sign-in lock whether they come one by one or all at
// once, and an admin lock that lands while a code is being checked still holds.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import {
  appForTests,
  csrfTokenIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { startAppOnTwilio, startTwilioStandIn, turnOnTwoFactor } from '../support/twilio.js';

const GUESSES = 30;
const LOCK_AFTER = 5;

describe('password confirmation guessing', () => {
  // The production limits, except per IP: every request of a test comes from 127.0.0.1.
  const running = appForTests({ realLimits: true, env: { LIMIT_SIGN_INS_PER_IP: '100000' } });

  async function signedUp(): Promise<{ agent: Agent; email: string; userId: string }> {
    const agent = running.app.agent();
    const { email } = await signUp(agent);
    const user = await running.app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    return { agent, email, userId: user.id };
  }

  function confirm(agent: Agent, token: string, password: string) {
    return agent.post('/account/confirm-password').type('form').send({ password, next: '/account/2fa', _csrf: token });
  }

  async function confirmationOutcomes(userId: string): Promise<Record<string, number>> {
    const events = await running.app.services.database.prisma.auditEvent.findMany({
      where: { userId, type: 'password_confirmation' },
    });
    const counts: Record<string, number> = {};
    for (const event of events) counts[event.outcome] = (counts[event.outcome] ?? 0) + 1;
    return counts;
  }

  /** Once locked, the right password neither confirms nor signs in, and nothing sensitive opens. */
  async function assertLockedOut(agent: Agent, token: string, email: string) {
    const right = await confirm(agent, token, strongPassword);
    assert.equal(right.status, 429, 'the right password is refused while the account is locked');
    assert.equal((await signIn(running.app.agent(), email, strongPassword)).status, 429, 'the same lock as sign-in');
    await agent.get('/account/2fa').expect(303);
  }

  it(`answers ${GUESSES} wrong confirmations from one session with 401 five times, then 429, auditing each`, async () => {
    const { agent, email, userId } = await signedUp();
    const token = csrfTokenIn((await agent.get('/account/confirm-password').expect(200)).text);
    const statuses: number[] = [];
    for (let i = 0; i < GUESSES; i += 1) {
      const response = await confirm(agent, token, `wrong guess ${i}`);
      statuses.push(response.status);
      if (response.status === 429) {
        assert.ok(Number(response.headers['retry-after']) >= 1);
        assert.match(response.text, /Too many wrong passwords\. For your safety, please wait \d+ seconds/);
      }
    }
    assert.deepEqual(statuses, [
      ...Array<number>(LOCK_AFTER).fill(401),
      ...Array<number>(GUESSES - LOCK_AFTER).fill(429),
    ]);
    assert.deepEqual(await confirmationOutcomes(userId), { failed: LOCK_AFTER, rate_limited: GUESSES - LOCK_AFTER });
    await assertLockedOut(agent, token, email);
  });

  // The confirmation goes through the sign-in password check, so it is exactly as atomic as the
  // sign-in limits, which reserve each attempt before verifying it.
  it(`evaluates at most ${LOCK_AFTER} of ${GUESSES} wrong confirmations fired at once, auditing each`, async () => {
    const { agent, email, userId } = await signedUp();
    const token = csrfTokenIn((await agent.get('/account/confirm-password').expect(200)).text);
    const responses = await Promise.all(
      Array.from({ length: GUESSES }, (_, i) => confirm(agent, token, `parallel guess ${i}`)),
    );
    const statuses = responses.map((response) => response.status);
    const wrong = statuses.filter((status) => status === 401).length;
    const refused = statuses.filter((status) => status === 429).length;
    assert.equal(wrong + refused, GUESSES, `only 401 and 429: ${statuses.join(' ')}`);
    assert.ok(wrong <= LOCK_AFTER, `${wrong} passwords were checked, the lock allows ${LOCK_AFTER}`);
    assert.deepEqual(await confirmationOutcomes(userId), { failed: wrong, rate_limited: refused });
    await assertLockedOut(agent, token, email);
  });

  it('shares one count with sign-in: wrong sign-ins and wrong confirmations lock together', async () => {
    const { agent, email } = await signedUp();
    for (let i = 0; i < 3; i += 1)
      assert.equal((await signIn(running.app.agent(), email, `sign-in guess ${i}`)).status, 401);
    const token = csrfTokenIn((await agent.get('/account/confirm-password').expect(200)).text);
    for (let i = 0; i < LOCK_AFTER - 3; i += 1)
      assert.equal((await confirm(agent, token, `confirm guess ${i}`)).status, 401);
    await assertLockedOut(agent, token, email);
  });
});

describe('an admin lock that lands while the code is being checked', () => {
  let standIn: TwilioStandIn;
  let gate: http.Server;
  let app: TestApp;
  // Runs when a code check reaches "Twilio", before Twilio answers it.
  let beforeCheck: () => Promise<unknown> = () => Promise.resolve();

  before(async () => {
    standIn = await startTwilioStandIn();
    // Between the app and the stand-in: holds each code check until `beforeCheck` is done.
    gate = http.createServer((req, res) => {
      const held = req.url?.endsWith('/VerificationCheck') ? beforeCheck() : Promise.resolve();
      void held.then(() => {
        const upstream = http.request(
          new URL(req.url!, standIn.url),
          { method: req.method, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        req.pipe(upstream);
      });
    });
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    const gateUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}`;
    app = await startAppOnTwilio(standIn, { env: { TWILIO_API_BASE_URL: gateUrl } });
  });
  after(async () => {
    await app?.close();
    gate?.closeAllConnections();
    await new Promise((resolve) => gate?.close(resolve));
    await standIn?.stop();
  });

  it('refuses the sign-in although the code was right, and audits it as locked', async () => {
    const owner = app.agent();
    const { email } = await signUp(owner);
    const phone = '+33611330001';
    await turnOnTwoFactor(owner, standIn, phone);
    const { prisma } = app.services.database;
    const user = await prisma.user.findUniqueOrThrow({ where: { email } });

    const agent = app.agent();
    assert.equal((await signIn(agent, email, strongPassword)).headers.location, '/login/2fa');
    const since = new Date();
    beforeCheck = () => prisma.user.update({ where: { id: user.id }, data: { lockedAt: new Date() } });
    const response = await submitForm(agent, '/login/2fa', '/login/2fa', { code: standIn.lastCodeFor(phone)! });
    beforeCheck = () => Promise.resolve();

    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login');
    await agent.get('/account').expect(303);
    const signIns = await prisma.auditEvent.findMany({
      where: { userId: user.id, type: 'sign_in', at: { gte: since } },
    });
    assert.deepEqual(
      signIns.map((event) => event.outcome),
      ['locked'],
    );
    const checked = await prisma.auditEvent.findMany({
      where: { userId: user.id, type: 'code_checked', at: { gte: since } },
    });
    assert.deepEqual(
      checked.map((event) => event.outcome),
      ['ok'],
      'the code itself was right',
    );
  });
});
