// Every limit holds when the requests come all at once: parallel requests get no more tries,
// codes or calls than the same requests one after the other. Real HTTP against the real app,
// real Redis (and once the in-memory limits of a single process), the real Twilio SDK against
// the stand-in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditLog } from '../../src/audit/index.js';
import {
  appForTests,
  confirmPassword,
  cookiesSet,
  csrfTokenIn,
  redisUrl,
  signIn,
  signUp,
  sessionCookie,
  strongPassword,
  submitForm,
  uniqueEmail,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { appOnTwilio, startAppOnTwilio, turnOnTwoFactor } from '../support/twilio.js';

type Fields = Record<string, string>;

/** Loads the form in `agent`, then returns a post of it, so that many can be fired at once. */
async function preparedPost(
  agent: Agent,
  formPath: string,
  action: string,
): Promise<(fields: Fields) => Promise<{ status: number }>> {
  const token = csrfTokenIn((await agent.get(formPath).expect(200)).text);
  return async (fields) =>
    agent
      .post(action)
      .type('form')
      .send({ ...fields, _csrf: token });
}

/** Prepares one sign-in per agent first, then fires them all together. */
async function parallelSignIns(agents: Agent[], fieldsFor: (index: number) => Fields): Promise<number[]> {
  const posts = await Promise.all(agents.map((agent) => preparedPost(agent, '/login', '/login')));
  const responses = await Promise.all(posts.map((post, index) => post(fieldsFor(index))));
  return responses.map((response) => response.status);
}

function countOf(statuses: number[], status: number): number {
  return statuses.filter((each) => each === status).length;
}

let ipCounter = 0;
/** A client address no other test uses (the apps trust X-Forwarded-For). */
function uniqueIp(): string {
  ipCounter += 1;
  return `198.18.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

const limitStores = [
  { name: 'Redis', env: {} as Fields, skip: redisUrl ? false : 'TEST_REDIS_URL is not set' },
  // Without REDIS_URL the limits live in this process.
  { name: 'one process, no Redis', env: { REDIS_URL: '' } as Fields, skip: false },
];

for (const store of limitStores) {
  describe(`parallel password guessing (limits in ${store.name})`, { skip: store.skip }, () => {
    const running = appForTests({ realLimits: true, env: { TRUST_PROXY: 'true', ...store.env } });
    const from = (ip: string) => running.app.agent().set('X-Forwarded-For', ip);
    const passwordVerifications = (where: object) =>
      running.app.services.database.prisma.auditEvent.count({
        where: { type: 'sign_in_password', outcome: 'failed', ...where },
      });

    it('verifies at most 5 of 200 wrong passwords sent at once for one account from one IP', async () => {
      const ip = uniqueIp();
      const { email } = await signUp(running.app.agent());
      const user = await running.app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
      const agents = Array.from({ length: 200 }, () => from(ip));
      const statuses = await parallelSignIns(agents, (index) => ({ email, password: `wrong guess ${index}` }));
      assert.equal(countOf(statuses, 401), 5, 'five wrong passwords were answered');
      assert.equal(countOf(statuses, 429), 195, 'the rest were refused before any check');
      assert.equal(await passwordVerifications({ userId: user.id }), 5, 'five passwords were verified');
      assert.equal((await signIn(from(uniqueIp()), email, strongPassword)).status, 429, 'the account is locked');
    });

    it('does not sign in with the right password sent inside a burst of wrong ones', async () => {
      const ip = uniqueIp();
      const { email } = await signUp(running.app.agent());
      const agents = Array.from({ length: 41 }, () => from(ip));
      const rightOne = 20;
      const statuses = await parallelSignIns(agents, (index) => ({
        email,
        password: index === rightOne ? strongPassword : `wrong guess ${index}`,
      }));
      assert.equal(statuses[rightOne], 429, 'the right password came after five attempts and was refused');
      assert.equal(countOf(statuses, 303), 0, 'nobody signed in');
      assert.equal(countOf(statuses, 401), 5);
    });

    it('verifies at most 50 passwords per IP when 120 sign-ins for different accounts come at once', async () => {
      const ip = uniqueIp();
      const emails = Array.from({ length: 120 }, () => uniqueEmail('sprayed'));
      const agents = emails.map(() => from(ip));
      const statuses = await parallelSignIns(agents, (index) => ({ email: emails[index]!, password: 'Summer2024!' }));
      assert.equal(countOf(statuses, 401), 50);
      assert.equal(countOf(statuses, 429), 70);
      assert.equal(await passwordVerifications({ ip }), 50);
    });
  });
}

describe('parallel sign-ups from one IP', () => {
  const running = appForTests({ realLimits: true, env: { TRUST_PROXY: 'true', LIMIT_SIGN_UPS_PER_IP: '3' } });

  it('creates no more accounts than the per-IP limit when 20 arrive at once', async () => {
    const ip = uniqueIp();
    const agents = Array.from({ length: 20 }, () => running.app.agent().set('X-Forwarded-For', ip));
    const posts = await Promise.all(agents.map((agent) => preparedPost(agent, '/signup', '/signup')));
    const prefix = `parallel-signup-${ip}`;
    const responses = await Promise.all(
      posts.map((post, index) =>
        post({
          email: `${prefix}.${index}@example.com`,
          password: strongPassword,
          passwordConfirmation: strongPassword,
        }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    assert.equal(countOf(statuses, 303), 3);
    assert.equal(countOf(statuses, 429), 17);
    assert.equal(
      await running.app.services.database.prisma.user.count({ where: { email: { startsWith: prefix } } }),
      3,
    );
  });
});

describe('parallel code requests', () => {
  const twilio = appOnTwilio({
    env: { TRUST_PROXY: 'true', LIMIT_CODES_PER_10_MINUTES: '5', LIMIT_WRONG_CODES_PER_USER: '3' },
  });

  let phoneCounter = 0;
  function nextMobile(): string {
    phoneCounter += 1;
    return `+3361299${String(phoneCounter).padStart(4, '0')}`;
  }

  async function personWithTwoFactor(ip: string) {
    const agent = twilio.app.agent().set('X-Forwarded-For', ip);
    const person = await signUp(agent);
    const phone = nextMobile();
    await turnOnTwoFactor(agent, twilio.standIn, phone);
    const user = await twilio.app.services.database.prisma.user.findUniqueOrThrow({ where: { email: person.email } });
    return { ...person, phone, userId: user.id };
  }

  /** A new agent at the code step of `email`'s sign-in. */
  async function atCodeStep(email: string, ip: string): Promise<Agent> {
    const agent = twilio.app.agent().set('X-Forwarded-For', ip);
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.headers.location, '/login/2fa');
    return agent;
  }

  it('sends one text when "Send code" is pressed 10 times at once', async () => {
    const agent = twilio.app.agent().set('X-Forwarded-For', uniqueIp());
    await signUp(agent);
    await confirmPassword(agent);
    const phone = nextMobile();
    const post = await preparedPost(agent, '/account/2fa', '/account/2fa');
    const responses = await Promise.all(Array.from({ length: 10 }, () => post({ phone, country: 'FR' })));
    assert.deepEqual(new Set(responses.map((response) => response.status)), new Set([303]));
    assert.equal(twilio.standIn.messagesTo(phone).length, 1);
    const verified = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', {
      code: twilio.standIn.lastCodeFor(phone)!,
    });
    assert.equal(verified.status, 303, 'the presses that sent nothing left the enrolment of the one that did');
  });

  it('does not count toward the send limits codes lost while Twilio was unreachable', async () => {
    const ip = uniqueIp();
    const { email, phone } = await personWithTwoFactor(ip);
    const agent = await atCodeStep(email, ip);
    const sentBefore = twilio.standIn.messagesTo(phone).length;
    const call = await preparedPost(agent, '/login/2fa', '/login/2fa/call');
    // Connections refused: no request reached Twilio, so surely nothing was sent.
    const port = Number(new URL(twilio.standIn.url).port);
    await twilio.standIn.stop();
    try {
      for (let i = 0; i < 6; i += 1)
        assert.equal((await call({})).status, 503, `call ${i + 1} while Twilio is unreachable`);
    } finally {
      await twilio.standIn.start(port);
    }
    assert.equal((await call({})).status, 303, 'the failed calls used none of the five codes per 10 minutes');
    assert.equal(twilio.standIn.messagesTo(phone).length, sentBefore + 1);
  });

  it('checks at most 3 of 20 wrong codes sent at once, then refuses even the right one', async () => {
    const ip = uniqueIp();
    const { email, phone, userId } = await personWithTwoFactor(ip);
    const agent = await atCodeStep(email, ip);
    const code = twilio.standIn.lastCodeFor(phone)!;
    const wrong = code === '123456' ? '654321' : '123456';
    const post = await preparedPost(agent, '/login/2fa', '/login/2fa');
    const responses = await Promise.all(Array.from({ length: 20 }, () => post({ code: wrong })));
    const statuses = responses.map((response) => response.status);
    assert.equal(countOf(statuses, 422), 3, 'three wrong codes were checked');
    assert.equal(countOf(statuses, 429), 17);
    const judged = await twilio.app.services.database.prisma.auditEvent.count({
      where: { type: 'code_checked', outcome: 'wrong_code', userId },
    });
    assert.equal(judged, 3);
    assert.equal((await post({ code })).status, 429, 'the code step is locked');
  });
});

describe('codes asked for while Twilio is too slow to answer', () => {
  const twilio = appOnTwilio({
    env: { TRUST_PROXY: 'true', LIMIT_CODES_PER_10_MINUTES: '5', TWILIO_TIMEOUT_MS: '1000' },
  });

  /**
   * Returns once the stand-in has answered every request it took before this call: a request
   * made now waits the same delay as those before it, so it is answered after them.
   */
  async function standInCaughtUp(): Promise<void> {
    await fetch(`${twilio.standIn.url}/v2/Services/none/Verifications/none`);
  }

  it('counts every send whose fate is unknown: no more texts go out than the limit, and the 6th is refused', async () => {
    const agent = twilio.app.agent().set('X-Forwarded-For', uniqueIp());
    const { email } = await signUp(agent);
    await confirmPassword(agent);
    const user = await twilio.app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    const post = await preparedPost(agent, '/account/2fa', '/account/2fa');
    const phones = Array.from({ length: 12 }, (_, index) => `+3361297${String(index).padStart(4, '0')}`);
    // Twilio sends each code, but answers only after the app has given up waiting.
    twilio.standIn.faults.delayMs = 2_000;
    const responses: Array<{ status: number; text?: string }> = [];
    try {
      for (const phone of phones) responses.push(await post({ phone, country: 'FR' }));
      await standInCaughtUp();
    } finally {
      twilio.standIn.resetFaults();
    }
    const texted = phones.filter((phone) => twilio.standIn.messagesTo(phone).length > 0);
    assert.ok(texted.length <= 5, `${texted.length} texts went out, past the limit of 5 per 10 minutes`);
    const statuses = responses.map((response) => response.status);
    assert.deepEqual(statuses.slice(0, 5), [503, 503, 503, 503, 503], 'the first five may have gone out');
    assert.deepEqual(statuses.slice(5), Array(7).fill(429), 'the 6th and later are refused');
    assert.match(responses[0]!.text ?? '', /could not confirm that your code was sent, so it may or may not arrive/);
    const audited = await twilio.app.services.database.prisma.auditEvent.count({
      where: { type: 'code_sent', outcome: 'unconfirmed', userId: user.id },
    });
    assert.equal(audited, 5, 'the audit trail records each as a possible send');
    const { codesUnconfirmedToday } = await auditLog(twilio.app.services.database).figures(new Date());
    assert.ok(codesUnconfirmedToday.sms >= 5, 'the admin overview counts them as possible sends');
  });

  it('keeps the cooldown of a number whose code may have gone out', async () => {
    const agent = twilio.app.agent().set('X-Forwarded-For', uniqueIp());
    await signUp(agent);
    await confirmPassword(agent);
    const post = await preparedPost(agent, '/account/2fa', '/account/2fa');
    const phone = '+33612970100';
    twilio.standIn.faults.delayMs = 2_000;
    try {
      assert.equal((await post({ phone, country: 'FR' })).status, 503);
      await standInCaughtUp();
    } finally {
      twilio.standIn.resetFaults();
    }
    const again = await post({ phone, country: 'FR' });
    assert.equal(again.status, 303, 'the press within the cooldown sends nothing');
    assert.ok(twilio.standIn.messagesTo(phone).length <= 1, 'no second text within the cooldown');
  });
});

describe('parallel "Send code" presses from one IP', () => {
  const twilio = appOnTwilio({
    env: { TRUST_PROXY: 'true', LIMIT_CODES_PER_IP: '3', LIMIT_CODES_PER_10_MINUTES: '1' },
  });

  it('sends no more codes than the per-IP limit, and a refusal uses nothing of the other limits', async () => {
    const ip = uniqueIp();
    const people = await Promise.all(
      Array.from({ length: 12 }, async (_, index) => {
        const agent = twilio.app.agent();
        await signUp(agent);
        await confirmPassword(agent);
        const token = csrfTokenIn((await agent.get('/account/2fa').expect(200)).text);
        const sendCode = (from: string) =>
          agent
            .post('/account/2fa')
            .set('X-Forwarded-For', from)
            .type('form')
            .send({ phone: `+3361298${String(index).padStart(4, '0')}`, country: 'FR', _csrf: token });
        return { phone: `+3361298${String(index).padStart(4, '0')}`, sendCode };
      }),
    );
    const statuses = (await Promise.all(people.map(({ sendCode }) => sendCode(ip)))).map((response) => response.status);
    const texted = people.filter(({ phone }) => twilio.standIn.messagesTo(phone).length > 0);
    assert.equal(texted.length, 3);
    assert.equal(countOf(statuses, 429), 9);
    // Each person may have one code per 10 minutes: those refused for the IP still have theirs.
    for (const person of people.filter((each) => !texted.includes(each))) {
      assert.equal((await person.sendCode(uniqueIp())).status, 303, person.phone);
      assert.equal(twilio.standIn.messagesTo(person.phone).length, 1);
    }
  });
});

describe(
  '"Call me instead" pressed many times at once on two instances',
  { skip: redisUrl ? false : 'TEST_REDIS_URL is not set: no shared Redis' },
  () => {
    const twilio = appOnTwilio();
    let second: TestApp;

    it('starts exactly one call', async () => {
      second = await startAppOnTwilio(twilio.standIn, {
        databaseUrl: twilio.app.databaseUrl,
        env: { REDIS_PREFIX: twilio.app.config.redisPrefix },
      });
      try {
        const agent = twilio.app.agent();
        const { email } = await signUp(agent);
        const phone = '+33612990999';
        await turnOnTwoFactor(agent, twilio.standIn, phone);
        const signingIn = twilio.app.agent();
        const cookie = sessionCookie(await signIn(signingIn, email, strongPassword))!;
        const page = await signingIn.get('/login/2fa').expect(200);
        const token = csrfTokenIn(page.text);
        const cookies = [cookie, ...cookiesSet(page)].join('; ');
        const press = (instance: TestApp) =>
          instance.agent().post('/login/2fa/call').set('Cookie', cookies).type('form').send({ _csrf: token });
        const responses = await Promise.all(
          Array.from({ length: 12 }, (_, index) => press(index % 2 === 0 ? twilio.app : second)),
        );
        const calls = twilio.standIn.messagesTo(phone).filter((message) => message.channel === 'call');
        assert.equal(calls.length, 1, 'one call');
        const statuses = responses.map((response) => response.status);
        assert.equal(countOf(statuses, 303), 1);
        assert.equal(countOf(statuses, 429), 11);
      } finally {
        await second.close();
      }
    });
  },
);

describe('per-IP limits for IPv6 clients', () => {
  const running = appForTests({ realLimits: true, env: { TRUST_PROXY: 'true', LIMIT_SIGN_INS_PER_IP: '3' } });
  const from = (ip: string) => running.app.agent().set('X-Forwarded-For', ip);

  it('count every address of one /64 together, and no other /64', async () => {
    for (const ip of ['2001:db8:7:1::1', '2001:db8:7:1::2', '2001:db8:7:1:aaaa:bbbb:cccc:dddd']) {
      assert.equal((await signIn(from(ip), uniqueEmail('v6'), 'Summer2024!')).status, 401, ip);
    }
    assert.equal(
      (await signIn(from('2001:0db8:0007:0001::ffff'), uniqueEmail('v6'), 'Summer2024!')).status,
      429,
      'same /64, written out',
    );
    assert.equal(
      (await signIn(from('2001:db8:7:2::1'), uniqueEmail('v6'), 'Summer2024!')).status,
      401,
      'the next /64 is not affected',
    );
  });
});

describe('the audit trail and client addresses', () => {
  const running = appForTests({ env: { TRUST_PROXY: 'true' } });

  it('stores the IP only when it parses as one', async () => {
    for (const [forwarded, stored] of [
      ['203.0.113.77', '203.0.113.77'],
      ['2001:db8::77', '2001:db8::77'],
      ['not-an-address', null],
      ['<script>alert(1)</script>', null],
    ] as const) {
      const email = uniqueEmail('address');
      await signIn(running.app.agent().set('X-Forwarded-For', forwarded), email, 'Summer2024!');
      const [event] = await running.app.services.database.prisma.auditEvent.findMany({
        where: { type: 'sign_in_password', detail: { path: ['reason'], equals: 'unknown_account' } },
        orderBy: { id: 'desc' },
        take: 1,
      });
      assert.equal(event?.ip, stored, forwarded);
    }
  });
});
