// Attacks on sign-in and codes, tried the way an attacker would, over real HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import {
  confirmPassword,
  cookiesSet,
  redisUrl,
  signIn,
  signUp,
  sessionCookie,
  startTestApp,
  strongPassword,
  submitForm,
  uniqueEmail,
  type TestApp,
} from '../support/app.js';
import { startAppOnTwilio, startTwilioStandIn, turnOnTwoFactor } from '../support/twilio.js';

describe('credential stuffing and password guessing', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ realLimits: true, env: { TRUST_PROXY: 'true', LIMIT_SIGN_INS_PER_IP: '8' } });
  });
  after(() => app.close());

  const from = (ip: string) => app.agent().set('X-Forwarded-For', ip);

  it('locks an account after 5 wrong passwords, even from many IPs, and refuses the right one meanwhile', async () => {
    const { email } = await signUp(from('198.51.100.1'));
    for (let i = 0; i < 5; i += 1) {
      const wrong = await signIn(from(`203.0.113.${i + 1}`), email, `wrong guess ${i}`);
      assert.equal(wrong.status, 401, `guess ${i + 1}`);
    }
    const locked = await signIn(from('203.0.113.99'), email, strongPassword);
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers['retry-after']) >= 1);
    assert.match(locked.text, /please wait \d+ seconds/);
    await from('203.0.113.99').get('/account').expect(303);
    const refusals = await app.services.database.prisma.auditEvent.count({
      where: { type: 'rate_limited', detail: { path: ['rule'], equals: 'sign_in_account' } },
    });
    assert.ok(refusals >= 1, 'the refusal is in the audit trail');
  });

  it('behaves the same for an email that has no account, so the lock reveals nothing', async () => {
    const nobody = uniqueEmail('nobody');
    for (let i = 0; i < 5; i += 1)
      assert.equal((await signIn(from(`192.0.2.${i + 1}`), nobody, `guess ${i}`)).status, 401);
    assert.equal((await signIn(from('192.0.2.77'), nobody, strongPassword)).status, 429);
  });

  it('limits failed sign-ins per IP across accounts', async () => {
    const attacker = '198.51.100.250';
    for (let i = 0; i < 8; i += 1) await signIn(from(attacker), uniqueEmail(`stuffed${i}`), 'Password1!');
    const blocked = await signIn(from(attacker), uniqueEmail('next'), 'Password1!');
    assert.equal(blocked.status, 429);
    const { email } = await signUp(from('198.51.100.2'));
    assert.equal((await signIn(from('198.51.100.3'), email, strongPassword)).status, 303, 'other IPs are not affected');
  });
});

describe('credential stuffing alarm', () => {
  const logs: Array<Record<string, unknown>> = [];
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ logs, env: { ALERT_FAILED_SIGN_INS_PER_MINUTE: '4' } });
  });
  after(() => app.close());

  it('logs one warning when failed sign-ins per minute cross the threshold', async () => {
    for (let i = 0; i < 3; i += 1) await signIn(app.agent(), uniqueEmail(`victim${i}`), 'Summer2024!');
    const alarm = () => logs.filter((line) => String(line.msg).includes('possible credential stuffing'));
    assert.equal(alarm().length, 0, 'not below the threshold');
    for (let i = 3; i < 8; i += 1) await signIn(app.agent(), uniqueEmail(`victim${i}`), 'Summer2024!');
    assert.equal(alarm().length, 1, 'once when crossing, not on every failure');
    assert.equal(alarm()[0]!.level, 40);
    assert.equal(alarm()[0]!.failedSignInsLastMinute, 4);
    assert.ok(!JSON.stringify(logs).includes('Summer2024!'), 'no password in the logs');
  });
});

describe('sign-up flooding', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ realLimits: true, env: { LIMIT_SIGN_UPS_PER_IP: '2' } });
  });
  after(() => app.close());

  it('refuses more than the allowed sign-ups per IP per hour with 429', async () => {
    await signUp(app.agent());
    await signUp(app.agent());
    const third = await submitForm(app.agent(), '/signup', '/signup', {
      email: uniqueEmail('flood'),
      password: strongPassword,
      passwordConfirmation: strongPassword,
    });
    assert.equal(third.status, 429);
    assert.equal(await app.services.database.prisma.user.count({ where: { email: { startsWith: 'flood.' } } }), 0);
  });
});

describe('SMS pumping and code guessing', () => {
  let standIn: TwilioStandIn;
  let app: TestApp;
  before(async () => {
    standIn = await startTwilioStandIn();
    app = await startAppOnTwilio(standIn, {
      realLimits: true,
      env: {
        LIMIT_SIGN_INS_PER_IP: '1000',
        LIMIT_SIGN_UPS_PER_IP: '1000',
        LIMIT_WRONG_CODES_PER_USER: '6',
        CODE_COUNTRIES: 'FR,GB',
      },
    });
  });
  after(async () => {
    await app.close();
    await standIn.stop();
  });

  it('sends at most 5 codes per 10 minutes to one person, however many sign-ins ask', async () => {
    const agent = app.agent();
    const { email } = await signUp(agent);
    const phone = '+33699000001';
    await turnOnTwoFactor(agent, standIn, phone);
    for (let i = 0; i < 6; i += 1) assert.equal((await signIn(app.agent(), email, strongPassword)).status, 303);
    assert.equal(standIn.messagesTo(phone).length, 5, 'the enrolment code and 4 sign-in codes; the rest refused');
    const last = app.agent();
    await signIn(last, email, strongPassword);
    const step = await last.get('/login/2fa').expect(200);
    assert.match(step.text, /Too many codes were sent/);
  });

  it('refuses numbers outside the allowed countries without sending anything', async () => {
    const agent = app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const response = await submitForm(agent, '/account/2fa', '/account/2fa', {
      phone: '+1 201 555 0123',
      country: 'US',
    });
    assert.equal(response.status, 422);
    assert.match(response.text, /Codes cannot be sent to phone numbers in this country/);
    assert.equal(standIn.messagesTo('+12015550123').length, 0);
  });

  it('locks the code step after repeated wrong codes across fresh sign-ins', async () => {
    const agent = app.agent();
    const { email } = await signUp(agent);
    const phone = '+33699000002';
    await turnOnTwoFactor(agent, standIn, phone);
    const guesser = app.agent();
    await signIn(guesser, email, strongPassword);
    const code = standIn.lastCodeFor(phone)!;
    const wrong = code === '123456' ? '654321' : '123456';
    for (let i = 0; i < 4; i += 1) await submitForm(guesser, '/login/2fa', '/login/2fa', { code: wrong });
    const again = app.agent();
    await signIn(again, email, strongPassword);
    const fresh = standIn.lastCodeFor(phone)!;
    for (let i = 0; i < 2; i += 1)
      await submitForm(again, '/login/2fa', '/login/2fa', { code: fresh === '111111' ? '222222' : '111111' });
    const locked = await submitForm(again, '/login/2fa', '/login/2fa', { code: fresh });
    assert.equal(locked.status, 429, 'even the right code is refused while locked');
    assert.match(locked.text, /code step is locked/);
    await again.get('/account').expect(303);
  });
});

describe(
  'limits shared by two instances',
  { skip: redisUrl ? false : 'TEST_REDIS_URL is not set: no shared Redis to test against' },
  () => {
    let standIn: TwilioStandIn;
    let first: TestApp;
    let second: TestApp;
    before(async () => {
      standIn = await startTwilioStandIn();
      first = await startAppOnTwilio(standIn, { realLimits: true });
      second = await startAppOnTwilio(standIn, {
        realLimits: true,
        databaseUrl: first.databaseUrl,
        env: { REDIS_PREFIX: first.config.redisPrefix },
      });
    });
    after(async () => {
      await second.close();
      await first.close();
      await standIn.stop();
    });

    it('counts failed sign-ins on either instance toward one lock', async () => {
      const { email } = await signUp(first.agent());
      for (let i = 0; i < 5; i += 1) {
        const instance = i % 2 === 0 ? first : second;
        assert.equal((await signIn(instance.agent(), email, `wrong ${i}`)).status, 401);
      }
      assert.equal((await signIn(second.agent(), email, strongPassword)).status, 429);
      assert.equal((await signIn(first.agent(), email, strongPassword)).status, 429);
    });

    it('finishes on one instance a sign-in that started on the other', async () => {
      const agent = first.agent();
      const { email } = await signUp(agent);
      const phone = '+33699000003';
      await turnOnTwoFactor(agent, standIn, phone);
      const started = await signIn(first.agent(), email, strongPassword);
      assert.equal(started.headers.location, '/login/2fa');
      const cookie = sessionCookie(started)!;
      const onSecond = second.agent();
      const page = await onSecond.get('/login/2fa').set('Cookie', cookie).expect(200);
      const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
      const done = await onSecond
        .post('/login/2fa')
        .set('Cookie', [cookie, ...cookiesSet(page)].join('; '))
        .type('form')
        .send({ code: standIn.lastCodeFor(phone)!, _csrf: token });
      assert.equal(done.status, 303);
      assert.equal(done.headers.location, '/account');
    });
  },
);
