import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import {
  confirmPassword,
  cookiesSet,
  csrfTokenIn,
  editStoredSession,
  sessionCookie,
  signIn,
  signUp,
  appForTests,
  strongPassword,
  submitForm,
  uniqueEmail,
} from '../support/app.js';

describe('sign-in, sign-out and the account page', () => {
  const running = appForTests();
  let email: string;
  before(async () => {
    ({ email } = await signUp(running.app.agent()));
  });

  it('shows a sign-in form with the labelled fields and button people rely on', async () => {
    const page = await running.app.agent().get('/login').expect(200);
    assert.match(page.text, /<label for="email">Email<\/label>/);
    assert.match(page.text, /<label for="password">Password<\/label>/);
    assert.match(page.text, /<button type="submit" class="button">Sign in<\/button>/);
    assert.match(page.text, /autocomplete="current-password"/);
  });

  it('signs in with the right password, whatever the case of the email', async () => {
    const agent = running.app.agent();
    const response = await signIn(agent, `  ${email.toUpperCase()} `, strongPassword);
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/account');
    const account = await agent.get('/account').expect(200);
    assert.ok(account.text.includes(email));
    assert.match(account.text, /<button type="submit" class="button button--link">Sign out<\/button>/);
  });

  it('says the same thing for a wrong password and an unknown email, with 401', async () => {
    const wrong = await signIn(running.app.agent(), email, 'not the right password');
    const unknown = await signIn(running.app.agent(), uniqueEmail('nobody'), strongPassword);
    for (const response of [wrong, unknown]) {
      assert.equal(response.status, 401);
      assert.match(response.text, /Incorrect email or password\./);
    }
    // What differs from page to page anyway: the form tokens and values, and the passkey challenge.
    const strip = (html: string) => html.replace(/(value|data-passkey-options)="[^"]*"/g, '');
    assert.equal(strip(wrong.text), strip(unknown.text), 'the two pages cannot be told apart');
  });

  it('asks for a missing password instead of checking it', async () => {
    const response = await signIn(running.app.agent(), email, '');
    assert.equal(response.status, 422);
    assert.match(response.text, /Enter your password\./);
    assert.ok(response.text.includes(`value="${email}"`), 'the email typed is kept');
  });

  it('sends anonymous visitors of /account to sign-in, then back where they were going', async () => {
    const agent = running.app.agent();
    const redirect = await agent.get('/account?tab=security');
    assert.equal(redirect.status, 303);
    assert.equal(redirect.headers.location, '/login?next=%2Faccount%3Ftab%3Dsecurity');
    const form = await agent.get(redirect.headers.location as string).expect(200);
    assert.match(form.text, /name="next" value="\/account\?tab=security"/);
    const response = await agent
      .post('/login')
      .type('form')
      .send({ email, password: strongPassword, next: '/account?tab=security', _csrf: csrfTokenIn(form.text) });
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/account?tab=security');
  });

  for (const hostile of [
    'https://evil.example/steal',
    '//evil.example/steal',
    '/\\evil.example',
    'javascript:alert(1)',
    '/%0d%0aSet-Cookie:x=1',
    'http:/\\/evil.example',
  ]) {
    it(`never redirects off-site after sign-in (next=${hostile})`, async () => {
      const response = await signIn(running.app.agent(), email, strongPassword, { next: hostile });
      assert.equal(response.status, 303);
      const location = response.headers.location as string;
      assert.ok(location.startsWith('/') && !location.startsWith('//') && !location.includes('\\'), location);
      assert.ok(!/evil\.example|javascript:|\r|\n/.test(location), location);
    });
  }

  it('gives a new session ID at sign-in and forgets the one it had before', async () => {
    const agent = running.app.agent();
    const form = await agent.get('/login').expect(200);
    assert.equal(sessionCookie(form), undefined, 'the sign-in form starts no session');
    // An attacker plants a well-signed session ID in the victim's browser: one of their own,
    // from a sign-in they then signed out of.
    const { email: attackerEmail } = await signUp(running.app.agent());
    const attacker = running.app.agent();
    const planted = sessionCookie(await signIn(attacker, attackerEmail, strongPassword));
    assert.ok(planted);
    assert.equal((await submitForm(attacker, '/account', '/logout', {})).status, 303);
    const plantedForm = await request(running.app.url).get('/login').set('Cookie', planted).expect(200);
    const response = await request(running.app.url)
      .post('/login')
      .set('Cookie', [planted, ...cookiesSet(plantedForm)].join('; '))
      .type('form')
      .send({ email, password: strongPassword, _csrf: csrfTokenIn(plantedForm.text) })
      .expect(303);
    const after = sessionCookie(response);
    assert.ok(after);
    assert.notEqual(after, planted);
    // The attacker who planted the old ID gets nothing from it.
    const withOldId = await running.app.agent().get('/account').set('Cookie', planted);
    assert.equal(withOldId.status, 303);
    assert.match(withOldId.headers.location as string, /^\/login/);
    const withNewId = await running.app.agent().get('/account').set('Cookie', after);
    assert.equal(withNewId.status, 200);
  });

  it('keeps the session cookie only for the idle timeout, or for weeks with "Remember me"', async () => {
    const plain = await signIn(running.app.agent(), email, strongPassword);
    const remembered = await signIn(running.app.agent(), email, strongPassword, { remember: 'on' });
    const lifetime = (response: typeof plain) => {
      const cookies = (response.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
      const cookie = cookies.find((c) => c.startsWith('tfa.sid='));
      assert.ok(cookie, 'a session cookie is set');
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Lax/);
      const expires = /Expires=([^;]+)/.exec(cookie)?.[1];
      assert.ok(expires);
      return Date.parse(expires) - Date.now();
    };
    const minute = 60_000;
    const plainLife = lifetime(plain);
    assert.ok(plainLife > 25 * minute && plainLife <= 30 * minute + 5_000, `idle timeout: ${plainLife} ms`);
    const rememberedLife = lifetime(remembered);
    assert.ok(rememberedLife > 29 * 24 * 60 * minute, `remember me: ${rememberedLife} ms`);
  });

  it('keeps a session for the whole idle timeout after a request that changes it, however long ago it was last stored', async () => {
    const agent = running.app.agent();
    const cookie = sessionCookie(await signIn(agent, email, strongPassword))!;
    // As if it was stored an idle timeout ago, with requests since (which only move its expiry on).
    await editStoredSession<{ cookie: { expires: string } }>(running.app, cookie, (stored) => {
      stored.cookie.expires = new Date(Date.now() + 1_000).toISOString();
    });
    await confirmPassword(agent); // a request that writes to the session
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await agent.get('/account').expect(200);
  });

  it('signs out with a POST, destroying the session on the server', async () => {
    const agent = running.app.agent();
    const signedIn = await signIn(agent, email, strongPassword);
    assert.equal(signedIn.status, 303);
    const cookie = sessionCookie(signedIn)!;
    const account = await agent.get('/account').expect(200);
    const response = await agent
      .post('/logout')
      .type('form')
      .send({ _csrf: csrfTokenIn(account.text) });
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login');
    const login = await agent.get('/login').expect(200);
    assert.match(login.text, /You are signed out\./);
    const replay = await running.app.agent().get('/account').set('Cookie', cookie);
    assert.equal(replay.status, 303, 'the old session cookie no longer signs anyone in');
  });

  it('signs out calmly a browser whose session already ended (the form sent from a stale tab)', async () => {
    const agent = running.app.agent();
    const response = await submitForm(agent, '/login', '/logout', {});
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login');
    assert.match((await agent.get('/login').expect(200)).text, /You are signed out\./);
  });

  it('marks pages with account data as not to be stored', async () => {
    const agent = running.app.agent();
    assert.equal((await signIn(agent, email, strongPassword)).status, 303);
    const account = await agent.get('/account').expect(200);
    assert.equal(account.headers['cache-control'], 'no-store');
  });

  it('takes a person from sign-up through sign-out and back in', async () => {
    const agent = running.app.agent();
    const person = uniqueEmail('journey');
    const signedUp = await submitForm(agent, '/signup', '/signup', {
      email: person,
      password: strongPassword,
      passwordConfirmation: strongPassword,
    });
    assert.equal(signedUp.status, 303);
    const account = await agent.get('/account').expect(200);
    await agent
      .post('/logout')
      .type('form')
      .send({ _csrf: csrfTokenIn(account.text) })
      .expect(303);
    await agent.get('/account').expect(303);
    assert.equal((await signIn(agent, person, strongPassword)).status, 303);
    const again = await agent.get('/account').expect(200);
    assert.ok(again.text.includes(person));
  });
});
