// "Sign in with a passkey" on /login, without a password, over real HTTP with a software
// authenticator (./authenticator.ts): the passkey names its account and must verify the person;
// the challenge is the page's, kept in a signed cookie of the browser and used once (also when
// two answers race); another origin, another RP ID, an unknown passkey, a locked account and a
// counter going backwards are refused; failures count per IP and in the account's wrong-code
// limit; the sign-in is a fresh session. (Nothing is stored for a visitor: test/security/anonymous-visitors.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import {
  appForTests,
  cookiesSet,
  csrfTokenIn,
  isSignedIn,
  sessionCookie,
  signIn,
  strongPassword,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { optionsIn, SoftAuthenticator } from './authenticator.js';
import { personWithPasskey } from './support.js';

/** /login as `agent` sees it: the page, and the options of its passkey challenge. */
async function loginPage(agent: Agent) {
  const page = await agent.get('/login').expect(200);
  return { page: page.text, options: optionsIn(page.text), response: page };
}

/** Posts "Sign in with a passkey" from `page` with `credential`. */
const answer = (agent: Agent, page: string, credential: string, fields: Record<string, string> = {}) =>
  agent
    .post('/login/passkey')
    .type('form')
    .send({ _csrf: csrfTokenIn(page), credential, ...fields });

/** A new browser's passwordless sign-in with `authenticator`: what the answer got. */
async function signInWithPasskey(
  app: TestApp,
  authenticator: SoftAuthenticator,
  options: Parameters<SoftAuthenticator['authenticate']>[1] = {},
) {
  const agent = app.agent();
  const { page, options: challenge } = await loginPage(agent);
  const response = await answer(agent, page, authenticator.authenticate(challenge, options));
  return { agent, response };
}

/** `count` browsers each load /login, then all answer at once with `credentialFor` their page's challenge. */
async function answeredAtOnce(app: TestApp, count: number, credentialFor: (options: { challenge: string }) => string) {
  const browsers = await Promise.all(
    Array.from({ length: count }, async () => {
      const agent = app.agent();
      const { page, options } = await loginPage(agent);
      return { agent, page, credential: credentialFor(options) };
    }),
  );
  return Promise.all(browsers.map(({ agent, page, credential }) => answer(agent, page, credential)));
}

describe('signing in with a passkey, without a password', () => {
  const running = appForTests();
  const app = () => running.app;
  const prisma = () => running.app.services.database.prisma;
  const userOf = (email: string) => prisma().user.findUniqueOrThrow({ where: { email } });

  it('offers "Sign in with a passkey" on /login, and passkeys in the Email field, with a challenge kept in a signed cookie', async () => {
    const agent = app().agent();
    const { page, options, response } = await loginPage(agent);
    // Hidden until the page's script finds WebAuthn: without it, the button could only fail.
    assert.match(
      page,
      /<button type="submit" class="button button--secondary" data-passkey-reveal hidden>Sign in with a passkey<\/button>/,
    );
    assert.match(page, /<form method="post" action="\/login\/passkey"/);
    assert.match(page, /autocomplete="username webauthn"/);
    assert.match(page, /<noscript><p class="aside">Signing in with a passkey needs JavaScript[^<]*email and password/);
    assert.doesNotMatch(page, /<script>/, 'no inline script');
    const full = options as unknown as { userVerification: string; rpId: string; allowCredentials?: unknown[] };
    assert.equal(full.userVerification, 'required');
    assert.equal(full.rpId, 'localhost');
    assert.equal(full.allowCredentials, undefined, 'any passkey of this site may answer');
    assert.equal(sessionCookie(response), undefined, 'no session for a visitor');
    const cookie = (response.headers['set-cookie'] as unknown as string[]).find((one) =>
      one.startsWith('tfa.passkey='),
    );
    assert.ok(cookie, 'the challenge is kept in a cookie');
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.match(cookie, /Max-Age=300/);
    assert.ok(decodeURIComponent(cookie).includes(`.${options.challenge}.`), 'signed, with its challenge');
    assert.equal(response.headers['cache-control'], 'no-store');
  });

  it('signs in with a passkey alone: both factors, its counter and last use updated, audited with amr hwk user', async () => {
    const person = await personWithPasskey(app());
    person.authenticator.counter = 5;
    const { agent, response } = await signInWithPasskey(app(), person.authenticator);
    assert.equal(response.status, 303, response.text);
    assert.equal(response.headers.location, '/account');
    assert.ok(await isSignedIn(agent));
    const row = await prisma().passkeyCredential.findUniqueOrThrow({
      where: { credentialId: person.authenticator.id },
    });
    assert.equal(row.counter, 5n);
    assert.ok(row.lastUsedAt);
    const user = await userOf(person.email);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'sign_in', outcome: 'ok' },
      orderBy: { at: 'desc' },
    });
    const detail = event.detail as { method?: string; amr?: string; browser?: string };
    assert.equal(detail.method, 'passkey');
    assert.equal(detail.amr, 'hwk user');
    assert.ok(detail.browser);
    const checked = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'code_checked', outcome: 'ok' },
      orderBy: { at: 'desc' },
    });
    assert.equal((checked.detail as { passwordless?: boolean }).passwordless, true);
    // The passkey factor was used last: a later password sign-in asks for it first.
    const other = app().agent();
    assert.equal((await signIn(other, person.email, strongPassword)).headers.location, '/login/2fa');
  });

  it('goes to a local `next`, and keeps the session for weeks with "Remember me"', async () => {
    const person = await personWithPasskey(app());
    const agent = app().agent();
    const page = (await agent.get('/login?next=%2Faccount%2Fsessions').expect(200)).text;
    assert.match(page, /<input type="hidden" name="next" value="\/account\/sessions">/);
    const response = await answer(agent, page, person.authenticator.authenticate(optionsIn(page)), {
      next: '/account/sessions',
      remember: 'on',
    });
    assert.equal(response.status, 303, response.text);
    assert.equal(response.headers.location, '/account/sessions');
    const cookie = (response.headers['set-cookie'] as unknown as string[]).find((one) => one.startsWith('tfa.sid='));
    assert.match(cookie ?? '', /Expires=/, 'a lasting cookie');
    const offSite = await signInWithPasskey(app(), person.authenticator);
    assert.equal(offSite.response.headers.location, '/account');
  });

  it('starts a fresh session: an ID the browser held before (a sign-in begun) is worth nothing after', async () => {
    const person = await personWithPasskey(app());
    const agent = app().agent();
    // A password sign-in begun (its second factor pending) gives the browser a session ID.
    const begun = await signIn(agent, person.email, strongPassword);
    const before = sessionCookie(begun);
    assert.ok(before);
    const { page, options } = await loginPage(agent);
    const response = await answer(agent, page, person.authenticator.authenticate(options));
    assert.equal(response.status, 303, response.text);
    const after = sessionCookie(response);
    assert.ok(after);
    assert.notEqual(after, before);
    assert.ok(await isSignedIn(agent));
    const planted = await request(app().url).get('/account').set('Cookie', before);
    assert.equal(planted.status, 303, 'the old ID signs no one in');
  });

  it('refuses a passkey that did not verify the person (no fingerprint, face or PIN)', async () => {
    const person = await personWithPasskey(app());
    const { agent, response } = await signInWithPasskey(app(), person.authenticator, { userVerified: false });
    assert.equal(response.status, 422);
    assert.match(response.text, /did not check it is you/);
    assert.match(response.text, /Sign in with a passkey/, 'the page again, with a new challenge');
    assert.equal(await isSignedIn(agent), false);
    const user = await userOf(person.email);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'code_checked', outcome: 'wrong_code' },
    });
    assert.deepEqual(
      {
        reason: (event.detail as { reason?: string }).reason,
        passwordless: (event.detail as { passwordless?: boolean }).passwordless,
      },
      { reason: 'user_not_verified', passwordless: true },
    );
  });

  it('refuses an answer from another origin, for another RP ID, or with another account’s user handle', async () => {
    const person = await personWithPasskey(app());
    const other = await personWithPasskey(app());
    for (const options of [
      { origin: 'http://evil.localhost:3000' },
      { origin: 'https://localhost:3000' },
      { rpId: 'evil.localhost' },
      { userHandle: other.authenticator.userHandle! },
    ]) {
      const { agent, response } = await signInWithPasskey(app(), person.authenticator, options);
      assert.equal(response.status, 422, JSON.stringify(options));
      assert.match(response.text, /could not be verified/);
      assert.equal(await isSignedIn(agent), false);
    }
  });

  it('uses a challenge once: two answers to it at once sign in once, and it answers no more after', async () => {
    const person = await personWithPasskey(app());
    const visitor = await request(app().url).get('/login').expect(200);
    // The browser's cookies (the form's token and the challenge), sent as an attacker who copied them would.
    const cookies = cookiesSet(visitor).join('; ');
    const credential = person.authenticator.authenticate(optionsIn(visitor.text));
    const post = () =>
      request(app().url)
        .post('/login/passkey')
        .set('Cookie', cookies)
        .type('form')
        .send({ _csrf: csrfTokenIn(visitor.text), credential });
    const both = await Promise.all([post(), post()]);
    assert.deepEqual(both.map((one) => one.status).sort(), [303, 409]);
    const again = await post();
    assert.equal(again.status, 409);
    assert.match(again.text, /already used/);
    assert.equal(
      await prisma().auditEvent.count({
        where: {
          type: 'sign_in',
          outcome: 'ok',
          user: { email: person.email },
          detail: { path: ['method'], equals: 'passkey' },
        },
      }),
      1,
    );
  });

  it("refuses an answer to another browser's challenge, and one without the challenge's cookie", async () => {
    const person = await personWithPasskey(app());
    const victim = await loginPage(app().agent());
    const stolen = person.authenticator.authenticate(victim.options);
    const attacker = app().agent();
    const { page } = await loginPage(attacker);
    const refused = await answer(attacker, page, stolen);
    assert.equal(refused.status, 422);
    assert.equal(await isSignedIn(attacker), false);
    // Without the challenge's cookie (expired, or never had): nothing to answer.
    const visitor = await request(app().url).get('/login').expect(200);
    const none = await request(app().url)
      .post('/login/passkey')
      .set(
        'Cookie',
        cookiesSet(visitor).filter((cookie) => !cookie.startsWith('tfa.passkey=')),
      )
      .type('form')
      .send({
        _csrf: csrfTokenIn(visitor.text),
        credential: person.authenticator.authenticate(optionsIn(visitor.text)),
      });
    assert.equal(none.status, 410);
    assert.match(none.text, /took too long/);
  });

  it('says plainly that a passkey is not registered here, naming no one', async () => {
    const { agent, response } = await signInWithPasskey(app(), new SoftAuthenticator());
    assert.equal(response.status, 422);
    assert.match(response.text, /This passkey is not registered here/);
    assert.match(response.text, /<input id="password" name="password" type="password"/, 'the password form stays');
    assert.equal(await isSignedIn(agent), false);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { type: 'code_checked', outcome: 'unknown_passkey' },
      orderBy: { at: 'desc' },
    });
    assert.equal(event.userId, null);
  });

  it('refuses a locked account, and audits it', async () => {
    const person = await personWithPasskey(app());
    const user = await prisma().user.update({ where: { email: person.email }, data: { lockedAt: new Date() } });
    const { agent, response } = await signInWithPasskey(app(), person.authenticator);
    assert.equal(response.status, 403);
    assert.match(response.text, /This account is locked/);
    assert.equal(await isSignedIn(agent), false);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'sign_in', outcome: 'locked' },
    });
    assert.equal((event.detail as { method?: string }).method, 'passkey');
  });

  it('refuses a signature counter going backwards, and audits it', async () => {
    const person = await personWithPasskey(app());
    person.authenticator.counter = 10;
    assert.equal((await signInWithPasskey(app(), person.authenticator)).response.status, 303);
    const { agent, response } = await signInWithPasskey(app(), person.authenticator, { counter: 10 });
    assert.equal(response.status, 422);
    assert.match(response.text, /may have been copied/);
    assert.equal(await isSignedIn(agent), false);
    const user = await userOf(person.email);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'passkey_counter_regressed' },
    });
    const detail = event.detail as { stored: number; presented: number; purpose: string };
    assert.deepEqual([detail.stored, detail.presented, detail.purpose], [10, 10, 'sign_in']);
  });

  it('answers a missing, malformed or oversized answer with 422 and a clear message, never a 500', async () => {
    const agent = app().agent();
    for (const [credential, said] of [
      ['', /needs JavaScript/],
      ['{not json', /not a passkey/],
      [
        JSON.stringify({ id: 'x', rawId: 'x', type: 'public-key', response: { userHandle: 12 } }),
        /not registered here/,
      ],
      ['x'.repeat(12_500), /sent too much/],
    ] as const) {
      const { page } = await loginPage(agent);
      const response = await answer(agent, page, credential);
      assert.equal(response.status, 422, credential.slice(0, 40));
      assert.match(response.text, said);
      assert.match(response.text, /<input id="email" name="email"/, 'with the password form');
    }
    const noCsrf = await agent.post('/login/passkey').type('form').send({ credential: '' });
    assert.equal(noCsrf.status, 403);
  });

  it("counts refused answers the passkey signed in the account's wrong-code limit, even sent at once", async () => {
    const person = await personWithPasskey(app());
    // LIMIT_WRONG_CODES_PER_USER (10): of 13 answers without user verification at once, 10 are judged and 3 refused unjudged.
    const answers = await answeredAtOnce(app(), 13, (options) =>
      person.authenticator.authenticate(options, { userVerified: false }),
    );
    const statuses = answers.map((one) => one.status);
    assert.equal(statuses.filter((status) => status === 422).length, 10, statuses.join());
    assert.equal(statuses.filter((status) => status === 429).length, 3, statuses.join());
    const limited = answers.find((one) => one.status === 429)!;
    assert.ok(Number(limited.headers['retry-after']) > 0);
    // The right passkey now waits too: the limit is the account's.
    const { response } = await signInWithPasskey(app(), person.authenticator);
    assert.equal(response.status, 429);
  });

  it('does not let answers the passkey did not sign lock its owner out (credential IDs are not secret)', async () => {
    const person = await personWithPasskey(app());
    const forger = new SoftAuthenticator();
    // Someone else's key answering with the owner's credential ID: the signature cannot hold.
    const answers = await answeredAtOnce(app(), 13, (options) =>
      JSON.stringify({
        ...JSON.parse(forger.authenticate(options)),
        id: person.authenticator.id,
        rawId: person.authenticator.id,
      }),
    );
    assert.ok(
      answers.every((one) => one.status === 422),
      answers.map((one) => one.status).join(),
    );
    const { response } = await signInWithPasskey(app(), person.authenticator);
    assert.equal(response.status, 303, 'the owner still signs in');
  });
});

describe('signing in with a passkey: the per-IP limit of failed sign-ins', () => {
  const running = appForTests({ env: { LIMIT_SIGN_INS_PER_IP: '4' } });
  const app = () => running.app;

  it('holds under parallel answers, says when to try again, and is the one password sign-ins count in', async () => {
    const answers = await answeredAtOnce(app(), 10, (options) => new SoftAuthenticator().authenticate(options));
    const statuses = answers.map((one) => one.status);
    assert.equal(statuses.filter((status) => status === 422).length, 4, statuses.join());
    assert.equal(statuses.filter((status) => status === 429).length, 6, statuses.join());
    const limited = answers.find((one) => one.status === 429)!;
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.match(limited.text, /Too many attempts/);
    const password = await signIn(app().agent(), 'someone@example.com', strongPassword);
    assert.equal(password.status, 429, 'a password from this IP waits too');
    const events = await app().services.database.prisma.auditEvent.count({
      where: { type: 'rate_limited', detail: { path: ['rule'], equals: 'sign_in_ip' } },
    });
    assert.ok(events >= 6);
  });
});
