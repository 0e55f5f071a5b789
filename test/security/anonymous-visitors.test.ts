// Visitors who have not signed in cost the server nothing to keep: loading a form, failing a
// sign-in or reading "You are signed out" stores no session, so nobody can fill Redis by
// loading /login. Their forms are still protected from other sites, by a signed double-submit
// token bound to the browser's cookies (and, once signed in, to the session).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import {
  ageSession,
  cookiesSet,
  csrfTokenIn,
  redisUrl,
  sessionCookie,
  signIn,
  signUp,
  strongPassword,
  submitForm,
} from '../support/app.js';
import { optionsIn, SoftAuthenticator } from '../passkeys/authenticator.js';
import { appOnTwilio, personWithTwoFactor } from '../support/twilio.js';

describe(
  'anonymous visitors',
  { skip: redisUrl ? false : 'TEST_REDIS_URL is not set: no Redis to count sessions in' },
  () => {
    const running = appOnTwilio();
    const sessionKeys = async () =>
      (await running.app.services.redis!.client.keys(`${running.app.config.redisPrefix}sess:*`)).length;

    it('load /login 1,000 times, 50 at a time, and find no new session in Redis', async () => {
      const before = await sessionKeys();
      for (let round = 0; round < 20; round += 1) {
        const pages = await Promise.all(Array.from({ length: 50 }, () => request(running.app.url).get('/login')));
        for (const page of pages) {
          assert.equal(page.status, 200);
          assert.ok(csrfTokenIn(page.text), 'the form still has its token');
          assert.equal(sessionCookie(page), undefined, 'and no session cookie');
        }
      }
      for (const path of ['/', '/signup']) assert.equal((await request(running.app.url).get(path)).status, 200);
      assert.equal(await sessionKeys(), before);
    });

    it('get a session of their own when they sign in from a browser that never had one, 12 at once', async () => {
      // The session is made only when a sign-in needs one: each of these browsers holds the
      // form's token cookie and no session cookie when it posts its password.
      const people = await Promise.all(Array.from({ length: 12 }, () => signUp(running.app.agent())));
      const browsers = people.map(() => running.app.agent());
      const signedIn = await Promise.all(
        people.map((person, index) => signIn(browsers[index]!, person.email, strongPassword)),
      );
      const cookies = signedIn.map((response) => sessionCookie(response)?.split(';')[0]);
      for (const response of signedIn) assert.equal(response.status, 303);
      assert.equal(new Set(cookies.filter(Boolean)).size, 12, 'twelve sessions, one each');
      const pages = await Promise.all(browsers.map((browser) => browser.get('/account')));
      pages.forEach((page, index) => {
        assert.equal(page.status, 200);
        assert.ok(page.text.includes(people[index]!.email), 'each browser is signed in as its own person');
      });
    });

    it('store nothing for a failed sign-in or a refused sign-up', async () => {
      const before = await sessionKeys();
      const agent = running.app.agent();
      const failed = await submitForm(agent, '/login', '/login', { email: 'nobody@example.com', password: 'wrong' });
      assert.equal(failed.status, 401);
      const refused = await submitForm(agent, '/signup', '/signup', { email: 'not an email', password: 'x' });
      assert.equal(refused.status, 422);
      assert.equal(await sessionKeys(), before);
    });

    it('store nothing for a refused "Sign in with a passkey"', async () => {
      const before = await sessionKeys();
      const agent = running.app.agent();
      const page = await agent.get('/login').expect(200);
      const refused = await agent
        .post('/login/passkey')
        .type('form')
        .send({
          _csrf: csrfTokenIn(page.text),
          credential: new SoftAuthenticator().authenticate(optionsIn(page.text)),
        });
      assert.equal(refused.status, 422);
      assert.equal(sessionCookie(refused), undefined);
      assert.equal(await sessionKeys(), before);
    });

    it('read "You are signed out" after signing out, with their session gone from Redis', async () => {
      const before = await sessionKeys();
      const agent = running.app.agent();
      await signUp(agent);
      assert.equal(await sessionKeys(), before + 1, 'a signed-in person has a session');
      const out = await submitForm(agent, '/account', '/logout', {});
      assert.equal(out.status, 303);
      assert.match(
        String(out.headers['set-cookie']),
        /tfa\.sid=;[^,]*Expires=Thu, 01 Jan 1970/,
        'the browser forgets it',
      );
      assert.match((await agent.get('/login').expect(200)).text, /You are signed out\./);
      assert.doesNotMatch((await agent.get('/login').expect(200)).text, /You are signed out\./, 'shown once');
      assert.equal(await sessionKeys(), before);
    });

    it('keep no session once a sign-in is cancelled at the code step, or ended on another device', async () => {
      const person = await personWithTwoFactor(running, '+33612340001');
      const before = await sessionKeys();
      const agent = running.app.agent();
      assert.equal((await signIn(agent, person.email, strongPassword)).headers.location, '/login/2fa');
      assert.equal(await sessionKeys(), before + 1, 'a sign-in begun is kept');
      assert.equal((await submitForm(agent, '/login/2fa', '/login/2fa/cancel', {})).status, 303);
      assert.equal(await sessionKeys(), before, 'and forgotten once cancelled');
      const page = await agent.get('/login').expect(200);
      assert.equal(sessionCookie(page), undefined);
      assert.equal(await sessionKeys(), before);

      // Signed in on a second device, then "sign out everywhere" from the first.
      const other = running.app.agent();
      await signIn(other, person.email, strongPassword);
      await submitForm(other, '/login/2fa', '/login/2fa', { code: running.standIn.lastCodeFor(person.phone)! });
      await other.get('/account').expect(200);
      const withOther = await sessionKeys();
      assert.equal((await submitForm(person.agent, '/account', '/account/sign-out-everywhere', {})).status, 303);
      assert.equal((await other.get('/account')).status, 303);
      assert.ok((await sessionKeys()) <= withOther - 2, "both devices' sessions are gone from Redis");
    });

    it("serve a working form right after a session's absolute lifetime ran out", async () => {
      const { email } = await signUp(running.app.agent());
      const agent = running.app.agent();
      const signedIn = await signIn(agent, email, strongPassword);
      await ageSession(running.app, sessionCookie(signedIn)!, 'signedInAt', 13 * 3_600_000);
      const again = await signIn(agent, email, strongPassword);
      assert.equal(again.status, 303, 'not "This form has expired"');
      assert.equal(again.headers.location, '/account');
    });

    it('answer cookies that cookie-parser would read as JSON as if they were not there', async () => {
      for (const cookie of ['tfa.sid=j:1', 'tfa.csrf=j:[]', 'tfa.flash=j:{}', 'tfa.sid=j:{"a":1}; tfa.csrf=j:1']) {
        for (const path of ['/', '/login', '/signup']) {
          const answer = await request(running.app.url).get(path).set('Cookie', cookie);
          assert.equal(answer.status, 200, `${cookie} on ${path}`);
        }
      }
    });

    it("refuse a form posted without the browser's token cookie, with another browser's, or with a forged one", async () => {
      const mine = await request(running.app.url).get('/login');
      const theirs = await request(running.app.url).get('/login');
      const post = (cookies: string[], token: string | undefined) =>
        request(running.app.url)
          .post('/login')
          .set('Cookie', cookies.join('; '))
          .type('form')
          .send({ email: 'a@example.com', password: 'whatever', ...(token === undefined ? {} : { _csrf: token }) });
      const token = csrfTokenIn(mine.text);
      assert.equal((await post(cookiesSet(mine), token)).status, 401, 'the real pair gets to the password check');
      for (const [what, cookies, sent] of [
        ['no cookie', [], token],
        ['no token', cookiesSet(mine), undefined],
        ["another browser's cookie", cookiesSet(theirs), token],
        [
          'a forged pair',
          [`tfa.csrf=${encodeURIComponent('0'.repeat(64) + '.' + 'a'.repeat(64))}`],
          '0'.repeat(64) + '.' + 'a'.repeat(64),
        ],
      ] as const) {
        const answer = await post([...cookies], sent);
        assert.equal(answer.status, 403, what);
        assert.match(answer.text, /This form has expired/, what);
      }
    });

    it('refuse, once signed in, a token taken before the sign-in', async () => {
      const { email } = await signUp(running.app.agent());
      const form = await request(running.app.url).get('/login');
      const before = cookiesSet(form);
      const signedIn = await request(running.app.url)
        .post('/login')
        .set('Cookie', before.join('; '))
        .type('form')
        .send({ email, password: strongPassword, _csrf: csrfTokenIn(form.text) });
      assert.equal(signedIn.status, 303);
      const session = sessionCookie(signedIn)!;
      const stale = await request(running.app.url)
        .post('/logout')
        .set('Cookie', [...before, session].join('; '))
        .type('form')
        .send({ _csrf: csrfTokenIn(form.text) });
      assert.equal(stale.status, 403);
      const account = await request(running.app.url).get('/account').set('Cookie', session);
      assert.equal(account.status, 200, 'still signed in');
    });
  },
);
