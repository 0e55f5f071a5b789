// Authenticator apps (TOTP, local back end) over real HTTP: setting one up from the key the
// page shows, signing in with its codes, replays and clock skew, the shared wrong-code limit,
// several factors, removal, and secrets at rest.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appForTests,
  confirmPassword,
  csrfTokenIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
} from '../support/app.js';
import { codeFor, openSetup, personWithApp, roomInStep, stepOf } from './support.js';

describe('authenticator apps (local back end)', () => {
  const running = appForTests();
  const app = () => running.app;
  const prisma = () => running.app.services.database.prisma;

  async function passwordStep(email: string): Promise<Agent> {
    const agent = app().agent();
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login/2fa');
    return agent;
  }

  const enterCode = (agent: Agent, code: string) => submitForm(agent, '/login/2fa', '/login/2fa', { code });

  const appFactorOf = async (email: string) =>
    prisma().userFactor.findFirstOrThrow({ where: { kind: 'totp', user: { email } } });

  it('offers "Set up an authenticator app" on /account, behind the password confirmation', async () => {
    const agent = app().agent();
    await signUp(agent);
    const account = await agent.get('/account').expect(200);
    assert.match(
      account.text,
      /<a class="button button--secondary" href="\/account\/totp">Set up an authenticator app<\/a>/,
    );
    const unconfirmed = await agent.get('/account/totp').expect(303);
    assert.match(unconfirmed.headers.location!, /^\/account\/confirm-password\?next=%2Faccount%2Ftotp/);
  });

  it('shows a QR code made here, the key as text, a Code field and a Verify button', async () => {
    const agent = app().agent();
    await signUp(agent);
    const { html, key } = await openSetup(agent);
    const img = /<img src="(data:image\/png;base64,[^"]+)"[^>]*alt="([^"]+)"/.exec(html);
    assert.ok(img, 'an image with a data: URL (no third-party QR service)');
    assert.match(img[2]!, /QR code/);
    assert.match(html, /Can't scan\? Enter this key/);
    assert.match(key, /^[A-Z2-7]{32}$/, 'a 160-bit base32 key');
    assert.match(html, /<label for="code">Code<\/label>/);
    assert.match(html, /autocomplete="one-time-code"/);
    assert.match(html, /inputmode="numeric"/);
    assert.match(html, /<button type="submit" class="button">Verify<\/button>/);
    assert.doesNotMatch(html, /<script>/, 'no inline script');
    // A reload shows the same key: the app already added keeps working.
    const again = await agent.get('/account/totp').expect(200);
    assert.match(again.text, new RegExp(key.match(/.{1,4}/g)!.join(' ')));
  });

  it('sets the app up with a code computed from the key, turning two-factor authentication on', async () => {
    const agent = app().agent();
    await roomInStep();
    const person = await personWithApp(agent);
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /Your authenticator app is set up/);
    assert.match(account.text, /Two-factor authentication: On/);
    assert.match(account.text, /Authenticator app, added/);
    assert.doesNotMatch(account.text, /Set up an authenticator app/);
    const factor = await appFactorOf(person.email);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: factor.userId, type: 'two_factor_enabled' },
    });
    assert.equal((event.detail as { kind?: string }).kind, 'totp');
  });

  it('refuses a wrong code at setup, and keeps the same key', async () => {
    const agent = app().agent();
    await signUp(agent);
    const { key } = await openSetup(agent);
    const wrong = String((Number(codeFor(key, stepOf())) + 1) % 1_000_000).padStart(6, '0');
    const refused = await submitForm(agent, '/account/totp', '/account/totp', { code: wrong });
    assert.equal(refused.status, 422);
    assert.match(refused.text, /That code is not right/);
    assert.match(refused.text, new RegExp(key.match(/.{1,4}/g)!.join(' ')));
    const malformed = await submitForm(agent, '/account/totp', '/account/totp', { code: '12345' });
    assert.equal(malformed.status, 422);
  });

  it('stores no secret in clear', async () => {
    const agent = app().agent();
    const person = await personWithApp(agent);
    const rows = await prisma().$queryRawUnsafe<Array<{ row: string }>>(
      "SELECT row_to_json(f)::text AS row FROM user_factors f JOIN users u ON u.id = f.user_id WHERE u.email = $1 AND f.kind = 'totp'",
      person.email,
    );
    assert.equal(rows.length, 1);
    const row = rows[0]!.row;
    assert.ok(!row.includes(person.key), 'no base32 key in the row');
    assert.ok(!row.toLowerCase().includes(person.key.toLowerCase()));
    assert.ok(!row.includes(Buffer.from(person.key).toString('base64')));
    const factor = await appFactorOf(person.email);
    assert.match(factor.totpSecret!, /^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
  });

  it('signs in with a code from the app, and a code works once', async () => {
    const setup = app().agent();
    const step = await roomInStep();
    const person = await personWithApp(setup, step);

    const agent = await passwordStep(person.email);
    const page = await agent.get('/login/2fa').expect(200);
    assert.match(page.text, /Enter the 6-digit code from your authenticator app/);
    assert.match(page.text, /<label for="code">Code<\/label>/);
    assert.match(page.text, /<button type="submit" class="button">Verify<\/button>/);
    assert.doesNotMatch(page.text, /Use another way/, 'one factor: no other way');
    assert.match(page.text, /<a href="\/login\/2fa\/recovery">Use a recovery code<\/a>/, 'but its recovery codes');

    // The setup's code was used: it does not sign in.
    const replayed = await enterCode(agent, codeFor(person.key, step));
    assert.equal(replayed.status, 422);
    assert.match(replayed.text, /That code was already used/);

    // The next step's code (one step of skew) does.
    const done = await enterCode(agent, codeFor(person.key, step + 1));
    assert.equal(done.status, 303);
    await agent.get('/account').expect(200);
    const signInEvent = await prisma().auditEvent.findFirstOrThrow({
      where: { type: 'sign_in', outcome: 'ok', user: { email: person.email } },
      orderBy: { id: 'desc' },
    });
    assert.deepEqual(signInEvent.detail, {
      method: 'password_and_totp',
      browser: (signInEvent.detail as { browser?: unknown }).browser,
    });
    assert.match(String((signInEvent.detail as { browser?: unknown }).browser), /^[A-Za-z0-9_-]{22}$/);

    // Nor does the same code sign in again, in another sign-in.
    const other = await passwordStep(person.email);
    const again = await enterCode(other, codeFor(person.key, step + 1));
    assert.equal(again.status, 422);
    assert.match(again.text, /already used/);
    const replays = await prisma().auditEvent.count({
      where: { type: 'code_checked', outcome: 'replayed', user: { email: person.email } },
    });
    assert.equal(replays, 2);
  });

  it('keeps the app set up when a setup left open elsewhere is finished later', async () => {
    const first = app().agent();
    const step = await roomInStep();
    const person = await signUp(first);
    const stale = await openSetup(first);
    // Meanwhile, in another browser, the same person sets up an app with another key.
    const second = app().agent();
    await signIn(second, person.email, strongPassword);
    const current = await openSetup(second);
    assert.notEqual(current.key, stale.key);
    assert.equal(
      (await submitForm(second, '/account/totp', '/account/totp', { code: codeFor(current.key, step) })).status,
      303,
    );
    // The form still open in the first browser is sent as it is.
    const late = await first
      .post('/account/totp')
      .type('form')
      .send({ _csrf: csrfTokenIn(stale.html), code: codeFor(stale.key, step) });
    assert.equal(late.status, 303);
    assert.equal(late.headers.location, '/account', 'nothing replaced');
    const agent = await passwordStep(person.email);
    assert.equal(
      (await enterCode(agent, codeFor(stale.key, step + 1))).status,
      422,
      "the stale key's codes do not sign in",
    );
    assert.equal((await enterCode(agent, codeFor(current.key, step + 1))).status, 303, 'the app set up stays');
    assert.equal(
      await prisma().auditEvent.count({ where: { type: 'factor_added', user: { email: person.email } } }),
      0,
    );
  });

  it('accepts one step of clock skew either way, and refuses two', async () => {
    const setup = app().agent();
    const step = await roomInStep();
    // The app's clock is a step behind: its code for the previous step sets it up.
    const person = await personWithApp(setup, step - 1);
    const agent = await passwordStep(person.email);
    for (const off of [2, -2, 3]) {
      const refused = await enterCode(agent, codeFor(person.key, step + off));
      assert.equal(refused.status, 422, `a code ${off} steps off is refused`);
      assert.match(refused.text, /That code is not right/);
    }
    assert.equal((await enterCode(agent, codeFor(person.key, step))).status, 303);
  });

  it('lets only one of two sign-ins with the same code through', async () => {
    const setup = app().agent();
    const step = await roomInStep();
    const person = await personWithApp(setup, step - 1);
    const [first, second] = [await passwordStep(person.email), await passwordStep(person.email)];
    const code = codeFor(person.key, step);
    const tokens = await Promise.all(
      [first, second].map(async (agent) => csrfTokenIn((await agent.get('/login/2fa')).text)),
    );
    const results = await Promise.all(
      [first, second].map((agent, index) => agent.post('/login/2fa').type('form').send({ code, _csrf: tokens[index] })),
    );
    assert.deepEqual(results.map((result) => result.status).sort(), [303, 422]);
  });

  it('offers the app and the phone under "Use another way", each with its label', async () => {
    const setup = app().agent();
    const step = await roomInStep();
    const person = await personWithApp(setup, step);
    const factor = await appFactorOf(person.email);
    await prisma().userFactor.create({ data: { userId: factor.userId, kind: 'phone', phoneNumber: '+33612349876' } });

    const agent = await passwordStep(person.email);
    const choices = await agent.get('/login/2fa/choose').expect(200);
    // The way in use is named; the others are buttons.
    assert.match(choices.text, /<p>Your authenticator app <span class="aside">\(what you are using now/);
    assert.match(choices.text, /<button type="submit" class="button button--secondary">Text me a code at \+33/);
    assert.match(choices.text, /<button type="submit" class="button button--secondary">Call me at \+33/);
    // The app was set up first, so it is the usual factor; its page offers the others.
    const page = await agent.get('/login/2fa').expect(200);
    assert.match(page.text, /Enter the 6-digit code from your authenticator app/);
    assert.match(page.text, /<a href="\/login\/2fa\/choose">Use another way<\/a>/);
    assert.equal((await enterCode(agent, codeFor(person.key, step + 1))).status, 303);

    // On /account: both listed; removing the app keeps 2FA on with the phone.
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /Codes go to/);
    assert.match(account.text, /Authenticator app, added/);
    await confirmPassword(agent);
    const removed = await submitForm(agent, '/account/totp/remove', '/account/totp/remove', {});
    assert.equal(removed.status, 303);
    const after = await agent.get('/account').expect(200);
    assert.match(after.text, /Two-factor authentication: On/);
    assert.doesNotMatch(after.text, /Authenticator app, added/);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: factor.userId, type: 'factor_removed' },
    });
    assert.equal((event.detail as { kind?: string }).kind, 'totp');
  });

  it('removing the only app turns two-factor authentication off, with the password', async () => {
    const agent = app().agent();
    const step = await roomInStep();
    const person = await personWithApp(agent, step);
    const factor = await appFactorOf(person.email);
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /href="\/account\/totp\/remove">Remove/);
    // personWithApp confirmed the password; a new sign-in has not.
    const signedIn = await passwordStep(person.email);
    assert.equal((await enterCode(signedIn, codeFor(person.key, step + 1))).status, 303);
    assert.equal((await signedIn.get('/account/totp/remove')).status, 303, 'sent to confirm the password');
    await confirmPassword(signedIn);
    const page = await signedIn.get('/account/totp/remove').expect(200);
    assert.match(page.text, /turns two-factor authentication off/);
    const removed = await submitForm(signedIn, '/account/totp/remove', '/account/totp/remove', {});
    assert.equal(removed.status, 303);
    assert.match((await signedIn.get('/account').expect(200)).text, /Two-factor authentication: Off/);
    assert.equal(await prisma().userFactor.count({ where: { userId: factor.userId } }), 0);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: factor.userId, type: 'two_factor_disabled' },
    });
    assert.equal((event.detail as { kind?: string }).kind, 'totp');
    // Signing in needs only the password now.
    const again = await signIn(app().agent(), person.email, strongPassword);
    assert.equal(again.status, 303);
    assert.notEqual(again.headers.location, '/login/2fa');
  });
});

describe('authenticator apps and the wrong-code limit', () => {
  const running = appForTests({ env: { LIMIT_WRONG_CODES_PER_USER: '3' } });

  it('counts wrong and replayed codes in the same limit as phone codes, then locks the step', async () => {
    const setup = running.app.agent();
    const step = await roomInStep();
    const person = await personWithApp(setup, step);
    const agent = running.app.agent();
    assert.equal((await signIn(agent, person.email, strongPassword)).headers.location, '/login/2fa');
    const enter = (code: string) => submitForm(agent, '/login/2fa', '/login/2fa', { code });
    // Not a code: not counted.
    assert.equal((await enter('12 34')).status, 422);
    assert.equal((await enter(codeFor(person.key, step))).status, 422, 'replayed');
    assert.equal((await enter(codeFor(person.key, step + 5))).status, 422, 'wrong');
    assert.equal((await enter(codeFor(person.key, step + 6))).status, 422, 'wrong');
    const locked = await enter(codeFor(person.key, step + 1));
    assert.equal(locked.status, 429, 'even the right code, once locked');
    assert.match(locked.text, /Too many wrong codes/);
    assert.ok(Number(locked.headers['retry-after']) > 0);
  });
});
