// The admin area over real HTTP, with the real Twilio SDK against the Verify stand-in.
import assert from 'node:assert/strict';
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
import { runScript } from '../support/processes.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';
import { codeFor, openSetup, PERIOD_MS } from '../totp/support.js';

function runCli(args: string[], env: Record<string, string>) {
  return runScript('src/cli/admin-create.ts', args, env);
}

describe('admin area', () => {
  const twilio = appOnTwilio();
  let app: TestApp;
  let adminAgent: Agent;
  let adminEmail: string;
  before(async () => {
    app = twilio.app;
    adminEmail = uniqueEmail('admin');
    const created = await runCli([adminEmail], { DATABASE_URL: app.databaseUrl, ADMIN_PASSWORD: strongPassword });
    assert.equal(created.code, 0, created.output);
    adminAgent = app.agent();
    assert.equal((await signIn(adminAgent, adminEmail, strongPassword)).status, 303);
  });

  it('the CLI promotes an existing account too', async () => {
    const { email } = await signUp(app.agent());
    const promoted = await runCli([email], { DATABASE_URL: app.databaseUrl });
    assert.equal(promoted.code, 0, promoted.output);
    assert.match(promoted.output, /is now an admin/);
    const user = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    assert.equal(user.role, 'ADMIN');
  });

  it('the CLI records making an admin once, and words a weak password as the pages do', async () => {
    const { email } = await signUp(app.agent());
    for (let run = 0; run < 2; run += 1) {
      const promoted = await runCli([email], { DATABASE_URL: app.databaseUrl });
      assert.equal(promoted.code, 0, promoted.output);
    }
    const user = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    const events = await app.services.database.prisma.auditEvent.findMany({
      where: { type: 'admin_created', userId: user.id },
    });
    assert.deepEqual(
      events.map((event) => event.detail),
      [{ account: 'existing' }],
      'a second run changed nothing',
    );
    const weak = await runCli(['weak-admin@example.com'], {
      DATABASE_URL: app.databaseUrl,
      ADMIN_PASSWORD: 'password123',
    });
    assert.notEqual(weak.code, 0);
    assert.match(
      weak.output,
      /ADMIN_PASSWORD: This password is one of the most commonly used and easy to guess\. Choose another\./,
    );
  });

  it('refuses people who are not admins with 403, and writes it down', async () => {
    const agent = app.agent();
    const { email } = await signUp(agent);
    for (const path of ['/admin', '/admin/verify', '/admin/users', '/admin/audit', '/admin/audit.csv']) {
      const response = await agent.get(path);
      assert.equal(response.status, 403, path);
      assert.match(response.text, /Admins only/);
    }
    const user = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    assert.equal(
      await app.services.database.prisma.auditEvent.count({ where: { type: 'admin_denied', userId: user.id } }),
      5,
    );
    const anonymous = await app.agent().get('/admin/users');
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.location, '/login?next=%2Fadmin%2Fusers');
  });

  it('shows figures counted from the database', async () => {
    const page = await adminAgent.get('/admin').expect(200);
    assert.equal(page.headers['cache-control'], 'no-store');
    const prisma = app.services.database.prisma;
    const users = await prisma.user.count();
    const withTwoFactor = await prisma.user.count({ where: { factors: { some: {} } } });
    const figure = (label: string) => new RegExp(`<dt>${label}</dt><dd>([^<]*)</dd>`).exec(page.text)?.[1];
    assert.equal(figure('Users'), String(users));
    assert.equal(
      figure('With two-factor authentication'),
      `${withTwoFactor} (${Math.round((100 * withTwoFactor) / users)}%)`,
    );
    const failed = await prisma.auditEvent.count({
      where: { type: 'sign_in_password', outcome: 'failed', at: { gte: new Date(Date.now() - 3_600_000) } },
    });
    assert.equal(figure('Failed sign-ins in the last hour'), String(failed));
    const peopleWith = (kind: string) => prisma.user.count({ where: { factors: { some: { kind } } } });
    assert.equal(figure('With a phone \\(text or call\\)'), String(await peopleWith('phone')));
    assert.equal(figure('With an authenticator app'), String(await peopleWith('totp')));
    assert.equal(figure('With recovery codes'), String(await peopleWith('recovery_codes')));

    const person = app.agent();
    await signUp(person);
    await turnOnTwoFactor(person, twilio.standIn, '+33611220001');
    await addAuthenticatorApp(person);
    await signIn(app.agent(), uniqueEmail('nobody'), 'wrong password');
    const after = await adminAgent.get('/admin').expect(200);
    const afterFigure = (label: string) => new RegExp(`<dt>${label}</dt><dd>([^<]*)</dd>`).exec(after.text)?.[1];
    assert.equal(afterFigure('Users'), String(users + 1));
    assert.equal(afterFigure('With an authenticator app'), String(Number(figure('With an authenticator app')) + 1));
    assert.equal(afterFigure('With recovery codes'), String(Number(figure('With recovery codes')) + 1));
    assert.equal(Number(afterFigure('Codes sent today by SMS')), Number(figure('Codes sent today by SMS')) + 1);
    assert.equal(afterFigure('Failed sign-ins in the last hour'), String(failed + 1));
  });

  it("sends a test code by SMS or voice through the provider and checks it, showing the provider's answer", async () => {
    const form = await adminAgent.get('/admin/verify').expect(200);
    assert.match(form.text, /<label for="phone">Phone number<\/label>/);
    assert.match(form.text, /<label for="channel-sms">SMS<\/label>/);
    assert.match(form.text, /<label for="channel-call">Voice call<\/label>/);
    assert.match(form.text, />Send code<\/button>/);

    const sent = await adminAgent
      .post('/admin/verify/send')
      .type('form')
      .send({ phone: '06 11 22 00 02', country: 'FR', channel: 'call', _csrf: csrfTokenIn(form.text) });
    assert.equal(sent.status, 200);
    assert.match(sent.text, /data-provider-status>pending</);
    assert.match(sent.text, /Voice call/);
    assert.match(sent.text, /<code>VE[0-9a-f]{32}<\/code>/);
    assert.equal(twilio.standIn.messagesTo('+33611220002').at(-1)?.channel, 'call');
    assert.match(sent.text, /<label for="code">Code<\/label>/);
    assert.match(sent.text, />Check code<\/button>/);

    const wrong = await adminAgent
      .post('/admin/verify/check')
      .type('form')
      .send({ code: '000000', _csrf: csrfTokenIn(sent.text) });
    assert.match(wrong.text, /data-provider-status>pending</);
    assert.match(wrong.text, /That code is not right/);
    const right = await adminAgent
      .post('/admin/verify/check')
      .type('form')
      .send({ code: twilio.standIn.lastCodeFor('+33611220002')!, _csrf: csrfTokenIn(sent.text) });
    assert.match(right.text, /data-provider-status>approved</);

    const admin = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email: adminEmail } });
    const tests = await app.services.database.prisma.auditEvent.findMany({
      where: { type: 'admin_verify', userId: admin.id },
      orderBy: { id: 'asc' },
    });
    assert.deepEqual(
      tests.slice(-3).map((event) => event.outcome),
      ['pending', 'wrong_code', 'approved'],
    );
  });

  it("shows a delivery failure with Twilio's code and a readable meaning", async () => {
    const form = await adminAgent.get('/admin/verify').expect(200);
    const landline = await adminAgent
      .post('/admin/verify/send')
      .type('form')
      .send({ phone: '+44 20 7946 0958', country: 'GB', channel: 'sms', _csrf: csrfTokenIn(form.text) });
    assert.equal(landline.status, 502);
    assert.match(landline.text, /data-provider-status>error</);
    assert.match(landline.text, /<dd>60205<\/dd>/);
    assert.match(landline.text, /This number cannot receive text messages/);
    assert.doesNotMatch(landline.text, />Check code<\/button>/, 'nothing went out, so nothing to check');
    twilio.standIn.faults.down = true;
    try {
      const down = await adminAgent
        .post('/admin/verify/send')
        .type('form')
        .send({ phone: '+33611220003', country: 'FR', channel: 'sms', _csrf: csrfTokenIn(form.text) });
      assert.equal(down.status, 502);
      // The connection dropped after the request went out: Twilio may have sent the code.
      assert.match(down.text, /We could not confirm that a code was sent/);
    } finally {
      twilio.standIn.resetFaults();
    }
  });

  it('finds users by email, page by page', async () => {
    const tag = `page${Date.now()}`;
    for (let i = 0; i < 22; i += 1) await signUp(app.agent(), `${tag}.${i}@example.com`);
    const first = await adminAgent.get(`/admin/users?q=${tag}`).expect(200);
    assert.match(first.text, /22 users matching/);
    assert.equal((first.text.match(new RegExp(`${tag}\\.\\d+@example\\.com`, 'g')) ?? []).length, 20);
    assert.match(first.text, /Page 1 of 2/);
    const second = await adminAgent.get(`/admin/users?q=${tag}&page=2`).expect(200);
    assert.equal((second.text.match(new RegExp(`${tag}\\.\\d+@example\\.com`, 'g')) ?? []).length, 2);
  });

  /** Sets up an authenticator app for the signed-in `person` (Twilio's back end here), with a code on the stand-in's clock. */
  async function addAuthenticatorApp(person: Agent) {
    const { key } = await openSetup(person);
    const step = Math.floor(twilio.standIn.currentTime() / PERIOD_MS);
    const done = await submitForm(person, '/account/totp', '/account/totp', { code: codeFor(key, step) });
    assert.equal(done.status, 303, 'the app is set up');
  }

  /** Does `action` to the user as a browser would: password confirmed, then the confirmation page. */
  async function act(userId: string, action: string) {
    await confirmPassword(adminAgent);
    const confirm = await adminAgent.get(`/admin/users/${userId}/${action}`).expect(200);
    assert.match(confirm.text, /Confirm: /);
    const confirmation = /name="confirmation" value="([^"]+)"/.exec(confirm.text)?.[1] ?? '';
    return adminAgent
      .post(`/admin/users/${userId}/${action}`)
      .type('form')
      .send({ _csrf: csrfTokenIn(confirm.text), confirmation });
  }

  it("resets a user's 2FA after a confirmation step, and the audit view shows who did it", async () => {
    const person = app.agent();
    const { email } = await signUp(person);
    await turnOnTwoFactor(person, twilio.standIn, '+33611220004');
    await addAuthenticatorApp(person);
    const user = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    const appFactor = await app.services.database.prisma.userFactor.findFirstOrThrow({
      where: { userId: user.id, kind: 'totp' },
    });
    const listed = await adminAgent.get(`/admin/users?q=${encodeURIComponent(email)}`).expect(200);
    const cell = /<td data-label="Two-factor">([\s\S]*?)<\/td>/.exec(listed.text)?.[1] ?? '';
    assert.match(cell, /^\s*On\b/);
    const factors = [...cell.matchAll(/<li>([^<]*)<\/li>/g)].map((match) => match[1]);
    assert.deepEqual(factors.sort(), [
      'Authenticator app',
      'Phone +33\u00a0•\u00a0••\u00a0••\u00a0••\u00a004',
      'Recovery codes',
    ]);

    const done = await act(user.id, 'reset-2fa');
    assert.equal(done.status, 303);
    assert.match(
      (await adminAgent.get(done.headers.location as string).expect(200)).text,
      /Done: reset two-factor authentication/,
    );
    assert.deepEqual(
      await app.services.database.prisma.userFactor.findMany({ where: { userId: user.id } }),
      [],
      'no factor, no phone, no app, no recovery codes left',
    );
    assert.equal(await app.services.database.prisma.recoveryCode.count({ where: { factor: { userId: user.id } } }), 0);
    assert.equal(twilio.standIn.factors.factor(appFactor.twilioFactorSid!), undefined, 'the app is gone at Twilio');
    assert.equal(
      (await signIn(app.agent(), email, strongPassword)).headers.location,
      '/account',
      'signs in with the password alone now',
    );

    const audit = await adminAgent
      .get(`/admin/audit?user=${encodeURIComponent(adminEmail)}&type=admin_action`)
      .expect(200);
    assert.match(audit.text, /reset-2fa/);
    assert.ok(audit.text.includes(user.id));
  });

  it('locks and unlocks an account, ending its sessions, and signs a user out everywhere', async () => {
    const person = app.agent();
    const { email } = await signUp(person);
    const user = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    assert.equal((await act(user.id, 'lock')).status, 303);
    await person.get('/account').expect(303);
    const refused = await signIn(app.agent(), email, strongPassword);
    assert.equal(refused.status, 403);
    assert.match(refused.text, /This account is locked/);
    assert.equal((await signIn(app.agent(), email, 'wrong password')).status, 401, 'a guesser learns nothing');
    assert.equal((await act(user.id, 'unlock')).status, 303);
    const back = app.agent();
    assert.equal((await signIn(back, email, strongPassword)).status, 303);
    assert.equal((await act(user.id, 'sign-out-everywhere')).status, 303);
    await back.get('/account').expect(303);
  });

  it('makes and removes admins, but an admin cannot lock or demote themselves', async () => {
    const person = app.agent();
    const { email } = await signUp(person);
    const user = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    await act(user.id, 'make-admin');
    await person.get('/admin').expect(200);
    await act(user.id, 'remove-admin');
    await person.get('/admin').expect(403);

    const admin = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email: adminEmail } });
    const self = await act(admin.id, 'remove-admin');
    assert.match((await adminAgent.get(self.headers.location as string).expect(200)).text, /cannot lock yourself out/);
    await adminAgent.get('/admin').expect(200);

    // The list offers an admin no action on their own row that would only be refused.
    const ownRow = (await adminAgent.get(`/admin/users?q=${encodeURIComponent(adminEmail)}`).expect(200)).text;
    for (const refused of ['lock', 'remove-admin', 'reset-2fa'])
      assert.doesNotMatch(ownRow, new RegExp(`/admin/users/${admin.id}/${refused}"`));
    assert.match(ownRow, new RegExp(`/admin/users/${admin.id}/sign-out-everywhere"`));
  });

  it('refuses admin forms without the CSRF token', async () => {
    const { email } = await signUp(app.agent());
    const user = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    assert.equal((await adminAgent.post(`/admin/users/${user.id}/lock`).type('form').send({})).status, 403);
    assert.equal(
      (await adminAgent.post('/admin/verify/send').type('form').send({ phone: '+33611220005', channel: 'sms' })).status,
      403,
    );
    const after = await app.services.database.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    assert.equal(after.lockedAt, null);
  });

  it('filters the audit trail and exports it as CSV that a spreadsheet cannot execute', async () => {
    const { email } = await signUp(app.agent().set('User-Agent', '=HYPERLINK("http://evil.example","click")'));
    const filtered = await adminAgent.get(`/admin/audit?user=${encodeURIComponent(email)}&type=sign_up`).expect(200);
    assert.match(filtered.text, /1 event\./);
    const from = new Date(Date.now() - 60_000).toISOString().slice(0, 16);
    const csv = await adminAgent.get(`/admin/audit.csv?user=${encodeURIComponent(email)}&from=${from}`).expect(200);
    assert.match(csv.headers['content-type'] as string, /text\/csv/);
    assert.match(csv.headers['content-disposition'] as string, /attachment; filename="?audit-\d{4}-\d\d-\d\d\.csv"?/);
    const lines = csv.text.trim().split('\r\n');
    assert.equal(lines[0], 'id,time,type,outcome,user,ip,user_agent,detail');
    const signUpLine = lines.find((line) => line.includes('"sign_up"'));
    assert.ok(signUpLine?.includes(`"${email}"`));
    assert.ok(
      signUpLine?.includes(`"'=HYPERLINK(""http://evil.example"",""click"")"`),
      'a leading = is defused and quotes doubled',
    );
    assert.ok(lines.length >= 3, 'sign_up and sign_in');
  });
});

describe('admin area with two-factor required (always so in production)', () => {
  const twilio = appOnTwilio({ env: { ADMIN_REQUIRES_2FA: 'true' } });

  it('is closed to an admin until they turn on two-factor authentication', async () => {
    const app = twilio.app;
    const email = uniqueEmail('admin2fa');
    assert.equal((await runCli([email], { DATABASE_URL: app.databaseUrl, ADMIN_PASSWORD: strongPassword })).code, 0);
    const agent = app.agent();
    await signIn(agent, email, strongPassword);
    const refused = await agent.get('/admin');
    assert.equal(refused.status, 403);
    assert.match(refused.text, /Turn on two-factor authentication/);
    await turnOnTwoFactor(agent, twilio.standIn, '+33611220009');
    await agent.get('/admin').expect(200);
  });
});
