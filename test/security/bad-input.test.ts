// Hostile and odd input in every field: a clear message, the right status, nothing half-written.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { before, describe, it } from 'node:test';
import {
  confirmPassword,
  csrfTokenIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  uniqueEmail,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';

const HOSTILE: Array<[string, string]> = [
  ['a NUL byte', 'abc\u0000def@example.com'],
  ['emoji', '🙂🙂🙂@example.com'],
  ['a very long string', `${'a'.repeat(5_000)}@example.com`],
  ['markup', '<script>alert(1)</script>@example.com'],
  ['an array', ''],
];

describe('bad input', () => {
  const twilio = appOnTwilio();
  let app: TestApp;
  before(() => {
    app = twilio.app;
  });

  for (const [what, email] of HOSTILE) {
    it(`sign-up refuses ${what} in the email with 422 and stores nothing`, async () => {
      const before = await app.services.database.prisma.user.count();
      const agent = app.agent();
      const token = csrfTokenIn((await agent.get('/signup').expect(200)).text);
      const body =
        what === 'an array'
          ? `email=a%40example.com&email=b%40example.com&password=${encodeURIComponent(strongPassword)}&passwordConfirmation=${encodeURIComponent(strongPassword)}&_csrf=${token}`
          : { email, password: strongPassword, passwordConfirmation: strongPassword, _csrf: token };
      const response = await agent.post('/signup').type('form').send(body);
      assert.equal(response.status, 422, what);
      assert.match(response.text, /Enter (an|your) email address|Use an email address of at most 254 characters/);
      assert.doesNotMatch(response.text, /<script>alert/, 'markup is escaped, never echoed raw');
      assert.equal(await app.services.database.prisma.user.count(), before);
    });
  }

  it('refuses control characters in a new password, and accepts emoji', async () => {
    const nul = await submitForm(app.agent(), '/signup', '/signup', {
      email: uniqueEmail('nul'),
      password: `${strongPassword}\u0000`,
      passwordConfirmation: `${strongPassword}\u0000`,
    });
    assert.equal(nul.status, 422);
    assert.match(nul.text, /no control characters/);
    const emoji = '🔐 my keys are under the 🪴 plant';
    const ok = await submitForm(app.agent(), '/signup', '/signup', {
      email: uniqueEmail('emoji'),
      password: emoji,
      passwordConfirmation: emoji,
    });
    assert.equal(ok.status, 303);
  });

  it('answers odd sign-in input with the generic failure, never a 500', async () => {
    const { email } = await signUp(app.agent());
    for (const password of ['\u0000', '🙂'.repeat(300), 'x'.repeat(2_000), ' ']) {
      const response = await signIn(app.agent(), email, password);
      assert.ok(
        [401, 422].includes(response.status),
        `${response.status} for ${JSON.stringify(password.slice(0, 10))}`,
      );
    }
    const arrays = app.agent();
    const token = csrfTokenIn((await arrays.get('/login').expect(200)).text);
    const response = await arrays
      .post('/login')
      .type('form')
      .send(`email=${encodeURIComponent(email)}&email=x&password=a&password=b&_csrf=${token}`);
    assert.ok([401, 422].includes(response.status));
  });

  it('answers odd input at the password confirmation with a refusal, never a 500, and confirms nothing', async () => {
    const agent = app.agent();
    await signUp(agent);
    for (const password of ['\u0000', '🙂'.repeat(300), 'x'.repeat(2_000), ' ', '']) {
      const response = await submitForm(agent, '/account/confirm-password', '/account/confirm-password', {
        password,
        next: `/${'x'.repeat(5_000)}`,
      });
      assert.ok(
        [401, 422].includes(response.status),
        `${response.status} for ${JSON.stringify(password.slice(0, 10))}`,
      );
    }
    const token = csrfTokenIn((await agent.get('/account/confirm-password').expect(200)).text);
    const repeated = await agent
      .post('/account/confirm-password')
      .type('form')
      .send(`password=a&password=${encodeURIComponent(strongPassword)}&_csrf=${token}`);
    assert.equal(repeated.status, 422);
    await agent.get('/account/2fa').expect(303);
  });

  it('ignores a JSON body sent to a form, asking for the fields', async () => {
    const agent = app.agent();
    const token = csrfTokenIn((await agent.get('/login').expect(200)).text);
    const response = await agent
      .post('/login')
      .set('X-CSRF-Token', token)
      .send({ email: 'a@example.com', password: strongPassword });
    assert.equal(response.status, 422);
    assert.match(response.text, /Enter your email address/);
  });

  /** What the server answers to `raw`, sent as is on a new connection. */
  function rawExchange(raw: string): Promise<string> {
    const { hostname, port } = new URL(app.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write(raw));
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  it('answers headers too large, or a request that is not HTTP, with a status and a sentence', async () => {
    const huge = await rawExchange(`GET /login HTTP/1.1\r\nHost: x\r\nCookie: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assert.match(huge, /The request headers are too large/);
    const garbage = await rawExchange('NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.match(garbage, /could not be read/);
    // The server still serves everyone else.
    assert.equal((await app.agent().get('/login')).status, 200);
  });

  it('normalises codes typed with spaces or dashes, and refuses letters without asking Twilio', async () => {
    const agent = app.agent();
    const { email } = await signUp(agent);
    const phone = '+33677000001';
    await turnOnTwoFactor(agent, twilio.standIn, phone);
    const signingIn = app.agent();
    await signIn(signingIn, email, strongPassword);
    for (const code of ['12345a', '١٢٣٤٥٦x', '<b>1</b>', '\u0000123456', '9'.repeat(11)]) {
      const response = await submitForm(signingIn, '/login/2fa', '/login/2fa', { code });
      assert.equal(response.status, 422, JSON.stringify(code));
      assert.match(response.text, /The code is 6 digits|Enter the 6-digit code/);
    }
    const real = twilio.standIn.lastCodeFor(phone)!;
    const dashed = `${real.slice(0, 3)}-${real.slice(3)}`;
    assert.equal((await submitForm(signingIn, '/login/2fa', '/login/2fa', { code: ` ${dashed} ` })).status, 303);
  });

  for (const [phone, status] of [
    ['+33 (0)6 12 34 56 78', 303],
    ['00 33 6 12 34 56 78', 303],
    ['+33.6.12.34.56.78', 303],
    ['☎ 06 12 34 56 78', 422],
    ['0', 422],
    ['+999 123456789', 422],
    ['6'.repeat(200), 422],
  ] as const) {
    it(`answers the phone number ${JSON.stringify(phone.slice(0, 30))} with ${status}`, async () => {
      const agent = app.agent();
      await signUp(agent);
      await confirmPassword(agent);
      const response = await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' });
      assert.equal(response.status, status);
      if (status === 422) assert.match(response.text, /phone number/);
    });
  }
});

// Every field of every form, one at a time, over-long, with NUL and repeated, while the other
// fields hold sensible values: no answer may be a 5xx.
const HOSTILE_FIELD_VALUES: Array<[string, string | string[]]> = [
  ['257 digits', '7'.repeat(257)],
  ['2,000 letters', 'a'.repeat(2_000)],
  ['a NUL byte', '12\u000034'],
  ['only a NUL byte', '\u0000'],
  ['the field twice', ['123456', '654321']],
];

interface FormUnderTest {
  /** How the form is sent: a POST with its page's CSRF token, or a GET (search boxes, filters). */
  method: 'post' | 'get';
  /** The page the form is on (its CSRF token comes from there). */
  page: string;
  action: string;
  /** Sensible values for every field; called once per request. */
  fields: () => Record<string, string>;
  /** The agent in the state the form needs; called once per request. */
  agent: () => Promise<Agent>;
  /** Fields whose over-long value must be refused with 422 and the form shown again. */
  longIs422?: string[];
  /** Fields where a NUL must be refused with 422 too (free text that reaches a query). */
  nulIs422?: string[];
}

function bodyWith(fields: Record<string, string>, field: string, value: string | string[]): URLSearchParams {
  const body = new URLSearchParams();
  for (const [name, sensible] of Object.entries(fields)) {
    if (name !== field) body.append(name, sensible);
  }
  for (const item of Array.isArray(value) ? value : [value]) body.append(field, item);
  return body;
}

async function send(form: FormUnderTest, field: string, value: string | string[]) {
  const agent = await form.agent();
  if (form.method === 'get') return agent.get(`${form.action}?${bodyWith(form.fields(), field, value).toString()}`);
  const token = csrfTokenIn((await agent.get(form.page).expect(200)).text);
  return agent
    .post(form.action)
    .type('form')
    .send(bodyWith({ ...form.fields(), _csrf: token }, field, value).toString());
}

describe('bad input in every field of every form', () => {
  const twilio = appOnTwilio({ env: { LIMIT_SIGN_IN_LOCK_AFTER: '100000', LIMIT_WRONG_CODES_PER_USER: '100000' } });
  const forms: Record<string, FormUnderTest> = {};

  before(async () => {
    const { app, standIn } = twilio;
    const prisma = app.services.database.prisma;
    const withTwoFactor = app.agent();
    const owner = await signUp(withTwoFactor);
    await turnOnTwoFactor(withTwoFactor, standIn, '+33612349901');
    const withoutTwoFactor = app.agent();
    await signUp(withoutTwoFactor);
    await confirmPassword(withoutTwoFactor);
    const enrolling = app.agent();
    await signUp(enrolling);
    await confirmPassword(enrolling);
    const confirming = app.agent();
    await signUp(confirming);
    assert.equal(
      (await submitForm(enrolling, '/account/2fa', '/account/2fa', { phone: '+33612349902', country: 'FR' })).status,
      303,
    );
    const atCodeStep = app.agent();
    assert.equal((await signIn(atCodeStep, owner.email, strongPassword)).headers.location, '/login/2fa');

    const adminAgent = app.agent();
    const admin = await signUp(adminAgent);
    await prisma.user.update({ where: { email: admin.email }, data: { role: 'ADMIN' } });
    await confirmPassword(adminAgent);
    // A second session of the admin, with a test code out, for the check form.
    const benchChecker = app.agent();
    assert.equal((await signIn(benchChecker, admin.email, strongPassword)).status, 303);
    const page = await benchChecker.get('/admin/verify').expect(200);
    const bench = await benchChecker
      .post('/admin/verify/send')
      .type('form')
      .send({ phone: '+33612349903', country: 'FR', channel: 'sms', _csrf: csrfTokenIn(page.text) });
    assert.equal(bench.status, 200);
    const target = await prisma.user.findUniqueOrThrow({ where: { email: (await signUp(app.agent())).email } });

    const fresh = () => Promise.resolve(app.agent());
    const signedUpFields = () => ({
      email: uniqueEmail('field'),
      password: strongPassword,
      passwordConfirmation: strongPassword,
      next: '/account',
    });
    Object.assign(forms, {
      'sign-up': { method: 'post', page: '/signup', action: '/signup', fields: signedUpFields, agent: fresh },
      'sign-in': {
        method: 'post',
        page: '/login',
        action: '/login',
        fields: () => ({ email: uniqueEmail('nobody'), password: strongPassword, remember: 'on', next: '/account' }),
        agent: fresh,
      },
      'phone (turning 2FA on)': {
        method: 'post',
        page: '/account/2fa',
        action: '/account/2fa',
        fields: () => ({ phone: '+33612349904', country: 'FR' }),
        agent: () => Promise.resolve(withoutTwoFactor),
        longIs422: ['phone'],
      },
      'phone (changing it)': {
        method: 'post',
        page: '/account/2fa',
        action: '/account/2fa',
        fields: () => ({ phone: '+33612349905', country: 'FR' }),
        agent: () => Promise.resolve(withTwoFactor),
        longIs422: ['phone'],
      },
      'password confirmation': {
        method: 'post',
        page: '/account/confirm-password',
        action: '/account/confirm-password',
        fields: () => ({ password: 'not the password', next: '/account/2fa' }),
        agent: () => Promise.resolve(confirming),
        longIs422: ['password'],
      },
      'code at enrolment': {
        method: 'post',
        page: '/account/2fa/verify',
        action: '/account/2fa/verify',
        fields: () => ({ code: '000000' }),
        agent: () => Promise.resolve(enrolling),
        longIs422: ['code'],
      },
      'code at sign-in': {
        method: 'post',
        page: '/login/2fa',
        action: '/login/2fa',
        fields: () => ({ code: '000000' }),
        agent: () => Promise.resolve(atCodeStep),
        longIs422: ['code'],
      },
      'turning 2FA off': {
        method: 'post',
        page: '/account/2fa/disable',
        action: '/account/2fa/disable',
        fields: () => ({}),
        agent: () => Promise.resolve(withTwoFactor),
      },
      'admin user search': {
        method: 'get',
        page: '/admin/users',
        action: '/admin/users',
        fields: () => ({ q: 'example', page: '1' }),
        agent: () => Promise.resolve(adminAgent),
        longIs422: ['q'],
        nulIs422: ['q'],
      },
      'admin audit filters': {
        method: 'get',
        page: '/admin/audit',
        action: '/admin/audit',
        fields: () => ({
          user: owner.email,
          type: 'sign_in',
          from: '2020-01-01T00:00',
          to: '2999-01-01T00:00',
          page: '1',
        }),
        agent: () => Promise.resolve(adminAgent),
        longIs422: ['user'],
        nulIs422: ['user'],
      },
      'admin audit export': {
        method: 'get',
        page: '/admin/audit',
        action: '/admin/audit.csv',
        fields: () => ({ user: owner.email, type: 'sign_in', from: '2020-01-01T00:00', to: '2999-01-01T00:00' }),
        agent: () => Promise.resolve(adminAgent),
        longIs422: ['user'],
        nulIs422: ['user'],
      },
      'admin bench send': {
        method: 'post',
        page: '/admin/verify',
        action: '/admin/verify/send',
        fields: () => ({ phone: '+33612349906', country: 'FR', channel: 'sms' }),
        agent: () => Promise.resolve(adminAgent),
        longIs422: ['phone'],
      },
      'admin bench check': {
        method: 'post',
        page: '/admin/verify',
        action: '/admin/verify/check',
        fields: () => ({ code: '000000' }),
        agent: () => Promise.resolve(benchChecker),
        longIs422: ['code'],
      },
      'admin action': {
        method: 'post',
        page: `/admin/users/${target.id}/sign-out-everywhere`,
        action: `/admin/users/${target.id}/sign-out-everywhere`,
        fields: () => ({ confirmation: 'not a token' }),
        agent: () => Promise.resolve(adminAgent),
      },
    } satisfies Record<string, FormUnderTest>);
  });

  const FIELDS: Record<string, string[]> = {
    'sign-up': ['email', 'password', 'passwordConfirmation', 'next', '_csrf'],
    'sign-in': ['email', 'password', 'remember', 'next', '_csrf'],
    'phone (turning 2FA on)': ['phone', 'country', '_csrf'],
    'phone (changing it)': ['phone', 'country', '_csrf'],
    'password confirmation': ['password', 'next', '_csrf'],
    'code at enrolment': ['code', '_csrf'],
    'code at sign-in': ['code', '_csrf'],
    'turning 2FA off': ['_csrf'],
    'admin user search': ['q', 'page'],
    'admin audit filters': ['user', 'type', 'from', 'to', 'page'],
    'admin audit export': ['user', 'type', 'from', 'to'],
    'admin bench send': ['phone', 'country', 'channel', '_csrf'],
    'admin bench check': ['code', '_csrf'],
    'admin action': ['confirmation', '_csrf'],
  };

  it("refuses audit dates outside 1970 to 9999 with 422 and the field's message, on the page and in the CSV export", async () => {
    const admin = await forms['admin audit filters']!.agent();
    const problems: string[] = [];
    for (const action of ['/admin/audit', '/admin/audit.csv']) {
      for (const field of ['from', 'to']) {
        for (const date of [
          '-200000-01-01T00:00:00Z',
          '-271821-04-20T00:00:00Z',
          '+275760-09-13T00:00:00Z',
          '1969-12-31T23:59',
        ]) {
          const response = await admin
            .get(action)
            .query({ [field]: date })
            .then(
              (answer) =>
                `${answer.status} ${/Use a date between 1970 and 9999/.test(answer.text) ? 'with' : 'without'} the message`,
              (error: Error) => error.message,
            );
          if (response !== '422 with the message') problems.push(`${action} ${field}=${date}: ${response}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  for (const [name, fields] of Object.entries(FIELDS)) {
    it(`${name}: no field gives a 5xx, whatever is in it`, async () => {
      const form = forms[name]!;
      const problems: string[] = [];
      for (const field of fields) {
        for (const [what, value] of HOSTILE_FIELD_VALUES) {
          const response = await send(form, field, value);
          if (response.status >= 500) problems.push(`${field} with ${what}: ${response.status}`);
          const refusedWithMessage =
            response.status === 422 &&
            /at most \d+ characters|6 digits|using digits|letters, digits and punctuation only/.test(response.text);
          const mustBeRefused =
            (what === '2,000 letters' && form.longIs422?.includes(field)) ||
            (what.includes('NUL') && form.nulIs422?.includes(field));
          if (mustBeRefused && !refusedWithMessage)
            problems.push(`${field} with ${what}: ${response.status}, not 422 with the field's message`);
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});
