// "Don't ask again on this browser for 30 days", over real HTTP: a browser remembered after a
// second factor skips it at the next sign-in (the password is still asked), for that account
// only, until it expires or is forgotten ("Forget" on /account, a password change, "sign out
// everywhere", an admin's lock or 2FA reset, turning 2FA off); the token is stored only hashed;
// a "sign out everywhere" racing a remembered sign-in leaves no session alive.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import request from 'supertest';
import {
  confirmPassword,
  csrfTokenIn,
  isSignedIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
} from '../support/app.js';
import { untilWaitingOnLock, withoutPostgresServer } from '../support/databases.js';
import { appOnTwilio, personWithTwoFactor, turnOnTwoFactor } from '../support/twilio.js';

const COOKIE = 'tfa.remember';
const BOX = "Don't ask again on this browser for 30 days";

let phoneCounter = 0;
const nextMobile = () => `+3361277${String((phoneCounter += 1)).padStart(4, '0')}`;

describe('remembered browsers', () => {
  const twilio = appOnTwilio();
  const prisma = () => twilio.app.services.database.prisma;

  /** A person with a phone as second factor, signed in on `agent`. */
  async function person() {
    const made = await personWithTwoFactor(twilio, nextMobile());
    const user = await prisma().user.findUniqueOrThrow({ where: { email: made.email } });
    return { ...made, userId: user.id };
  }

  async function signOut(agent: Agent) {
    const done = await submitForm(agent, '/account', '/logout', {});
    assert.equal(done.status, 303);
  }

  /** The password step; says where it leads: '/account' when the factor is skipped, '/login/2fa' when asked. */
  async function passwordStep(agent: Agent, email: string): Promise<string> {
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.status, 303);
    return response.headers.location as string;
  }

  /** A full sign-in with the code sent to `phone`, the box ticked or not; the code step's answer. */
  async function signInWithCode(agent: Agent, who: { email: string; phone: string }, rememberBrowser: boolean) {
    assert.equal(await passwordStep(agent, who.email), '/login/2fa');
    const page = await agent.get('/login/2fa').expect(200);
    assert.ok(page.text.includes(BOX), 'the code step offers the box');
    const answer = await agent
      .post('/login/2fa')
      .type('form')
      .send({
        _csrf: csrfTokenIn(page.text),
        code: twilio.standIn.lastCodeFor(who.phone)!,
        ...(rememberBrowser ? { rememberBrowser: 'on' } : {}),
      });
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.location, '/account');
    return answer;
  }

  /** A browser remembered for a new person: signed in with the box ticked, then signed out. */
  async function rememberedPerson() {
    const who = await person();
    const browser = twilio.app.agent();
    await signInWithCode(browser, who, true);
    await signOut(browser);
    return { ...who, browser };
  }

  /** A new client whose cookie jar holds `value` as its remembered-browser cookie (a copy, or a stolen one). */
  function browserWithCookie(value: string): Agent {
    const agent = twilio.app.agent();
    const jar = (agent as unknown as { jar: { setCookies(cookies: string[], host: string, path: string): void } }).jar;
    jar.setCookies([`${COOKIE}=${value}; Path=/`], new URL(twilio.app.url).hostname, '/');
    return agent;
  }

  /** The value of the remembered-browser cookie a response sets. */
  const rememberedValueOf = (response: { headers: Record<string, unknown> }) =>
    /^tfa\.remember=([^;]*)/.exec(rememberedCookieOf(response) ?? '')?.[1];

  /** The whole Set-Cookie line of the remembered-browser cookie, attributes included. */
  const rememberedCookieOf = (response: { headers: Record<string, unknown> }) =>
    ((response.headers['set-cookie'] as string[] | undefined) ?? []).find((cookie) => cookie.startsWith(`${COOKIE}=`));

  it('skips the code once the box was ticked, and says so in the trail and on the account page', async () => {
    const who = await person();
    const browser = twilio.app.agent();
    const answer = await signInWithCode(browser, who, true);
    const cookie = rememberedCookieOf(answer);
    assert.ok(cookie, 'the cookie is set');
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.match(cookie, /Max-Age=2592000/);
    await signOut(browser);

    const sent = twilio.standIn.outbox.length;
    assert.equal(await passwordStep(browser, who.email), '/account', 'no code asked');
    assert.equal(twilio.standIn.outbox.length, sent, 'no code sent');
    assert.equal(await isSignedIn(browser), true);
    const signedIn = await prisma().auditEvent.findFirst({
      where: { userId: who.userId, type: 'sign_in', outcome: 'ok' },
      orderBy: { id: 'desc' },
    });
    assert.equal((signedIn?.detail as { method?: string }).method, 'password_and_remembered_browser');
    const events = await prisma().auditEvent.findMany({
      where: { userId: who.userId, type: 'remembered_browser' },
      orderBy: { id: 'asc' },
    });
    assert.deepEqual(
      events.map((event) => event.outcome),
      ['remembered', 'used'],
    );

    const account = (await browser.get('/account').expect(200)).text;
    const section = account.slice(account.indexOf('<h2>Remembered browsers</h2>'));
    assert.match(section, /<strong>\(This browser\)<\/strong>/);
    assert.match(section, /Forget<span class="visually-hidden"> this browser, remembered /);
    assert.match(account, /Signed in on a remembered browser \(no second factor asked\)/);
    // Still the password: a wrong one is refused as ever.
    await signOut(browser);
    assert.equal((await signIn(browser, who.email, 'not the password at all')).status, 401);
  });

  it('keeps the token only as its SHA-256 hash', async () => {
    const who = await person();
    const answer = await signInWithCode(twilio.app.agent(), who, true);
    const token = rememberedValueOf(answer)!;
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const rows = await prisma().rememberedBrowser.findMany({ where: { userId: who.userId } });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.tokenHash, createHash('sha256').update(token).digest('hex'));
    const anywhere = await prisma().$queryRawUnsafe<unknown[]>(
      `SELECT 1 FROM remembered_browsers r WHERE r::text LIKE '%' || $1 || '%'
       UNION ALL SELECT 1 FROM audit_events a WHERE a::text LIKE '%' || $1 || '%'`,
      token,
    );
    assert.equal(anywhere.length, 0, 'the token itself is stored nowhere');
    const days = (rows[0]!.expiresAt.getTime() - rows[0]!.createdAt.getTime()) / 86_400_000;
    assert.equal(days, 30);
  });

  it('is offered on the recovery-code page too, and honoured there', async () => {
    const who = await person();
    const shown = await who.agent.get('/account/recovery-codes').expect(200);
    const code = /<li><code>([^<]+)<\/code><\/li>/.exec(shown.text)![1]!;
    const browser = twilio.app.agent();
    assert.equal(await passwordStep(browser, who.email), '/login/2fa');
    const page = await browser.get('/login/2fa/recovery').expect(200);
    assert.ok(page.text.includes(BOX));
    const answer = await browser
      .post('/login/2fa/recovery')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text), code, rememberBrowser: 'on' });
    assert.equal(answer.status, 303);
    assert.ok(rememberedValueOf(answer));
    await signOut(browser);
    assert.equal(await passwordStep(browser, who.email), '/account');
  });

  it('asks again without the box ticked', async () => {
    const who = await person();
    const browser = twilio.app.agent();
    const answer = await signInWithCode(browser, who, false);
    assert.equal(rememberedCookieOf(answer), undefined);
    await signOut(browser);
    assert.equal(await passwordStep(browser, who.email), '/login/2fa');
    assert.equal(await prisma().rememberedBrowser.count({ where: { userId: who.userId } }), 0);
  });

  it('is for the account that ticked it: another account on the same browser is asked, and both can be remembered', async () => {
    const first = await rememberedPerson();
    const second = await person();
    await signInWithCode(first.browser, second, true);
    await signOut(first.browser);
    assert.equal(await passwordStep(first.browser, second.email), '/account', 'the second account is remembered');
    await signOut(first.browser);
    assert.equal(await passwordStep(first.browser, first.email), '/account', 'and the first still is');
  });

  it('a stolen cookie does nothing for another account, and nothing without the password', async () => {
    const victim = await person();
    const answer = await signInWithCode(twilio.app.agent(), victim, true);
    const attacker = await person();
    const thief = browserWithCookie(rememberedValueOf(answer)!);
    assert.equal(await passwordStep(thief, attacker.email), '/login/2fa', 'the code is asked of the other account');
    assert.equal((await signIn(thief, victim.email, 'a guessed password, wrong')).status, 401);
    assert.equal(await isSignedIn(thief), false);
  });

  it('is never honoured by the JSON API: its password grant still asks for the second factor', async () => {
    const who = await person();
    const answer = await signInWithCode(twilio.app.agent(), who, true);
    const api = await request(twilio.app.url)
      .post('/api/auth/token')
      .set('Cookie', `${COOKIE}=${rememberedValueOf(answer)!}`)
      .send({ grant_type: 'password', email: who.email, password: strongPassword });
    assert.equal(api.status, 403);
    assert.equal((api.body as { error?: string }).error, 'mfa_required');
  });

  it('asks again once the 30 days are over', async () => {
    const who = await rememberedPerson();
    await prisma().rememberedBrowser.updateMany({
      where: { userId: who.userId },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    assert.equal(await passwordStep(who.browser, who.email), '/login/2fa');
  });

  it('"Forget" this browser asks again and clears its cookie; "Forget" from elsewhere and "Forget all" too', async () => {
    const who = await rememberedPerson();
    assert.equal(await passwordStep(who.browser, who.email), '/account');
    const [row] = await prisma().rememberedBrowser.findMany({ where: { userId: who.userId } });
    const forgotten = await submitForm(who.browser, '/account', `/account/remembered-browsers/${row!.id}/forget`, {});
    assert.equal(forgotten.status, 303);
    assert.match(rememberedCookieOf(forgotten) ?? '', /^tfa\.remember=;.*Expires=Thu, 01 Jan 1970/);
    assert.equal(await prisma().rememberedBrowser.count({ where: { userId: who.userId } }), 0);
    await signOut(who.browser);
    assert.equal(await passwordStep(who.browser, who.email), '/login/2fa');

    // Forgotten from another browser: this one is asked again.
    const laptop = twilio.app.agent();
    await signInWithCode(laptop, who, true);
    await signOut(laptop);
    const phone = twilio.app.agent();
    await signInWithCode(phone, who, true);
    const rows = await prisma().rememberedBrowser.findMany({
      where: { userId: who.userId },
      orderBy: { createdAt: 'asc' },
    });
    assert.equal(rows.length, 2);
    const page = (await phone.get('/account').expect(200)).text;
    assert.ok(page.includes(`/account/remembered-browsers/${rows[0]!.id}/forget`));
    const before = (await phone.get('/account').expect(200)).text;
    const other = await submitForm(phone, '/account', `/account/remembered-browsers/${rows[0]!.id}/forget`, {});
    assert.equal(other.status, 303);
    assert.ok(before.includes('(This browser)'));
    // The phone's own token stays in its cookie: only the laptop was forgotten.
    const kept = rememberedValueOf(other);
    assert.ok(kept, 'the cookie is written again with what still counts');
    assert.equal(createHash('sha256').update(kept).digest('hex'), rows[1]!.tokenHash);
    assert.equal(await passwordStep(laptop, who.email), '/login/2fa', 'the laptop is asked again');

    // Someone else's browser is no one's to forget.
    const stranger = await person();
    const refused = await submitForm(
      stranger.agent,
      '/account',
      `/account/remembered-browsers/${rows[1]!.id}/forget`,
      {},
    );
    assert.equal(refused.status, 404);
    assert.equal(await prisma().rememberedBrowser.count({ where: { id: rows[1]!.id } }), 1);

    const all = await submitForm(phone, '/account', '/account/remembered-browsers/forget-all', {});
    assert.equal(all.status, 303);
    assert.equal(await prisma().rememberedBrowser.count({ where: { userId: who.userId } }), 0);
    await signOut(phone);
    assert.equal(await passwordStep(phone, who.email), '/login/2fa');
  });

  describe('forgotten by every change that ends every session, and by 2FA off', () => {
    it('a password change', async () => {
      const who = await rememberedPerson();
      const changer = twilio.app.agent();
      await signInWithCode(changer, who, false);
      const changed = await submitForm(changer, '/account/password', '/account/password', {
        currentPassword: strongPassword,
        password: 'purple elephant kitchen radio',
        passwordConfirmation: 'purple elephant kitchen radio',
      });
      assert.equal(changed.status, 303);
      const step = await signIn(who.browser, who.email, 'purple elephant kitchen radio');
      assert.equal(step.headers.location, '/login/2fa');
    });

    it('"Sign out everywhere"', async () => {
      const who = await rememberedPerson();
      assert.equal(await passwordStep(who.browser, who.email), '/account');
      assert.equal((await submitForm(who.browser, '/account', '/account/sign-out-everywhere', {})).status, 303);
      assert.equal(await passwordStep(who.browser, who.email), '/login/2fa');
    });

    it('turning 2FA off (and on again)', async () => {
      const who = await rememberedPerson();
      const signedIn = twilio.app.agent();
      await signInWithCode(signedIn, who, false);
      await confirmPassword(signedIn);
      assert.equal((await submitForm(signedIn, '/account/2fa/disable', '/account/2fa/disable', {})).status, 303);
      assert.equal(await prisma().rememberedBrowser.count({ where: { userId: who.userId } }), 0);
      const again = twilio.app.agent();
      assert.equal(await passwordStep(again, who.email), '/account', 'the password alone, with 2FA off');
      await turnOnTwoFactor(again, twilio.standIn, nextMobile());
      assert.equal(await passwordStep(who.browser, who.email), '/login/2fa', 'turned on again, it asks');
    });

    describe('by an admin', () => {
      async function admin(): Promise<Agent> {
        const agent = twilio.app.agent();
        const { email } = await signUp(agent);
        await prisma().user.update({ where: { email }, data: { role: 'ADMIN' } });
        await signOut(agent);
        assert.equal(await passwordStep(agent, email), '/account');
        return agent;
      }

      async function act(adminAgent: Agent, userId: string, action: string) {
        await confirmPassword(adminAgent);
        const confirm = await adminAgent.get(`/admin/users/${userId}/${action}`).expect(200);
        const confirmation = /name="confirmation" value="([^"]+)"/.exec(confirm.text)?.[1] ?? '';
        const done = await adminAgent
          .post(`/admin/users/${userId}/${action}`)
          .type('form')
          .send({ _csrf: csrfTokenIn(confirm.text), confirmation });
        assert.equal(done.status, 303);
      }

      it('a lock (and unlock)', async () => {
        const who = await rememberedPerson();
        const adminAgent = await admin();
        await act(adminAgent, who.userId, 'lock');
        await act(adminAgent, who.userId, 'unlock');
        assert.equal(await passwordStep(who.browser, who.email), '/login/2fa');
      });

      it('a 2FA reset', async () => {
        const who = await rememberedPerson();
        const adminAgent = await admin();
        await act(adminAgent, who.userId, 'reset-2fa');
        assert.equal(await prisma().rememberedBrowser.count({ where: { userId: who.userId } }), 0);
      });
    });
  });

  it('"Sign out everywhere" racing remembered sign-ins leaves no session alive', async () => {
    for (let round = 0; round < 3; round += 1) {
      const who = await person();
      const remembered = twilio.app.agent();
      const answer = await signInWithCode(remembered, who, true);
      // The remembered browser, signed in here, signs out everywhere while four tabs of it sign in.
      const tabs = [1, 2, 3, 4].map(() => browserWithCookie(rememberedValueOf(answer)!));
      const pages = await Promise.all(tabs.map((tab) => tab.get('/login').expect(200)));
      const csrf = csrfTokenIn((await remembered.get('/account').expect(200)).text);
      const results = await Promise.all([
        remembered.post('/account/sign-out-everywhere').type('form').send({ _csrf: csrf }),
        ...tabs.map((tab, index) =>
          tab
            .post('/login')
            .type('form')
            .send({ _csrf: csrfTokenIn(pages[index]!.text), email: who.email, password: strongPassword }),
        ),
      ]);
      for (const result of results) assert.equal(result.status, 303);
      for (const tab of tabs) assert.equal(await isSignedIn(tab), false, 'no session survives');
      assert.equal(await prisma().rememberedBrowser.count({ where: { userId: who.userId } }), 0);
      assert.equal(await prisma().userSession.count({ where: { userId: who.userId } }), 0);
      assert.equal(await passwordStep(tabs[0]!, who.email), '/login/2fa', 'the browser is asked again');
    }
  });

  it('asks a session that skipped the second factor to sign in again with it before changing how the account signs in', async () => {
    const who = await rememberedPerson();
    assert.equal(await passwordStep(who.browser, who.email), '/account');
    // Adding a passkey, a phone, an app, new recovery codes, 2FA off, a new email: none on the password alone.
    for (const path of [
      '/account/passkeys/new',
      '/account/2fa',
      '/account/recovery-codes/new',
      '/account/2fa/disable',
      '/account/password',
    ]) {
      const page = await who.browser.get(path);
      assert.equal(page.status, 303, path);
      assert.equal(page.headers.location, `/account/second-factor?next=${encodeURIComponent(path)}`);
    }
    // Confirming the password is no way around it.
    await confirmPassword(who.browser);
    const refused = await submitForm(who.browser, '/account', '/account/2fa/disable', {});
    assert.equal(refused.status, 303);
    assert.match(refused.headers.location as string, /^\/account\/second-factor/);
    assert.equal((await prisma().userFactor.count({ where: { userId: who.userId } })) > 0, true, 'nothing was changed');
    // Nor is a new password (which started the session afresh, forgetting that it skipped the factor).
    const newPassword = `${strongPassword} again`;
    const changed = await submitForm(who.browser, '/account', '/account/password', {
      currentPassword: strongPassword,
      password: newPassword,
      passwordConfirmation: newPassword,
    });
    assert.equal(changed.status, 303);
    assert.match(changed.headers.location as string, /^\/account\/second-factor/);
    assert.equal(await passwordStep(twilio.app.agent(), who.email), '/login/2fa', 'the password is unchanged');

    // "Sign in again": this browser is forgotten and signed out; the next sign-in asks for the code.
    const page = await who.browser.get('/account/second-factor?next=%2Faccount%2Fpasskeys%2Fnew').expect(200);
    assert.match(page.text, /Sign in with your second factor/);
    const again = await who.browser
      .post('/account/second-factor')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text), next: '/account/passkeys/new' });
    assert.equal(again.status, 303);
    assert.equal(again.headers.location, `/login?next=${encodeURIComponent('/account/passkeys/new')}`);
    assert.equal(await isSignedIn(who.browser), false);
    assert.equal(await prisma().rememberedBrowser.count({ where: { userId: who.userId } }), 0);
    await signInWithCode(who.browser, who, false);
    await confirmPassword(who.browser);
    assert.equal(
      (await who.browser.get('/account/passkeys/new')).status,
      200,
      'with the second factor, the change is open',
    );
  });

  it('sends a session that skipped the second factor, made admin meanwhile, to give it before the admin area', async () => {
    const who = await rememberedPerson();
    assert.equal(await passwordStep(who.browser, who.email), '/account');
    await prisma().user.update({ where: { id: who.userId }, data: { role: 'ADMIN' } });
    for (const path of ['/admin', '/admin/audit']) {
      const page = await who.browser.get(path);
      assert.equal(page.status, 303, path);
      assert.equal(page.headers.location, `/account/second-factor?next=${encodeURIComponent(path)}`);
    }
  });

  it('neither offers nor honours the box for admins', async () => {
    const who = await rememberedPerson();
    await prisma().user.update({ where: { id: who.userId }, data: { role: 'ADMIN' } });
    assert.equal(await passwordStep(who.browser, who.email), '/login/2fa', 'an admin always gives a second factor');
    const page = await who.browser.get('/login/2fa').expect(200);
    assert.ok(!page.text.includes(BOX));
  });

  it(
    'is not remembered when 2FA is turned off while the sign-in is granted',
    { skip: withoutPostgresServer },
    async () => {
      const who = await person();
      const agent = twilio.app.agent();
      assert.equal(await passwordStep(agent, who.email), '/login/2fa');
      const page = await agent.get('/login/2fa').expect(200);
      // Another session of the database turns 2FA off as the app does: the account row locked, its
      // factors deleted, committed while the sign-in waits to remember the browser.
      const blocker = new pg.Client({ connectionString: twilio.app.databaseUrl });
      await blocker.connect();
      try {
        await blocker.query('BEGIN');
        // (NO KEY: the sign-in's audit events, which reference the row, go through; remembering waits.)
        await blocker.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [who.userId]);
        const answer = agent
          .post('/login/2fa')
          .type('form')
          .send({ _csrf: csrfTokenIn(page.text), code: twilio.standIn.lastCodeFor(who.phone)!, rememberBrowser: 'on' })
          .then((response) => response);
        await untilWaitingOnLock(blocker, 'the sign-in waits on the account row');
        await blocker.query('DELETE FROM user_factors WHERE user_id = $1', [who.userId]);
        await blocker.query('COMMIT');
        await answer;
      } finally {
        await blocker.end();
      }
      assert.equal(await prisma().rememberedBrowser.count({ where: { userId: who.userId } }), 0);
    },
  );
});
