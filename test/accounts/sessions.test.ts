// "Your sessions" on /account, over real HTTP: every signed-in session listed (browser, IP, last
// seen, this one marked) with a Sign out button for the others; a session signed out from
// another device is dead from its next request, even while it is firing requests; nobody can
// sign out someone else's session; sign-ins through the JSON API are listed and signed out too.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import {
  appForTests,
  csrfTokenIn,
  isSignedIn,
  editStoredSession,
  signIn,
  signUp,
  strongPassword,
  type Agent,
  type TestApp,
} from '../support/app.js';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

/** An agent that says it is `userAgent` on every request. */
function browser(app: TestApp, userAgent: string): Agent {
  return app.agent().set('User-Agent', userAgent);
}

/** The "Your sessions" section of the account page. */
function sessionsSection(html: string): string {
  const start = html.indexOf('<h2>Your sessions</h2>');
  assert.ok(start >= 0, 'the account page has a "Your sessions" section');
  return html.slice(start, html.indexOf('<h2>', start + 1));
}

/** Posts a Sign out of "Your sessions" to `action`, with the page's CSRF token. */
async function signOutSession(agent: Agent, action: string) {
  const page = await agent.get('/account').expect(200);
  return agent
    .post(action)
    .type('form')
    .send({ _csrf: csrfTokenIn(page.text) });
}

describe('Your sessions', () => {
  const running = appForTests();
  const prisma = () => running.app.services.database.prisma;

  async function personOnTwoBrowsers() {
    const laptop = browser(running.app, FIREFOX);
    const { email } = await signUp(laptop);
    const phone = browser(running.app, SAFARI);
    assert.equal((await signIn(phone, email, strongPassword)).status, 303);
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    const rows = await prisma().userSession.findMany({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } });
    assert.equal(rows.length, 2, 'one row per signed-in session');
    return { email, user, laptop, phone, laptopSession: rows[0]!, phoneSession: rows[1]! };
  }

  it('lists both browsers, this one marked, and signing out the other ends it at its next request', async () => {
    const { user, laptop, phone, phoneSession } = await personOnTwoBrowsers();
    const section = sessionsSection((await laptop.get('/account').expect(200)).text);
    assert.match(section, /Firefox on Linux <strong>\(This session\)<\/strong>/);
    assert.match(section, /Safari on iOS/);
    assert.match(section, /127\.0\.0\.1/);
    // One Sign out button: for the other session only.
    assert.equal([...section.matchAll(/>Sign out</g)].length, 1);
    assert.ok(section.includes(`action="/account/sessions/${phoneSession.id}/sign-out"`));

    const response = await signOutSession(laptop, `/account/sessions/${phoneSession.id}/sign-out`);
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/account');
    assert.equal(await isSignedIn(phone), false, 'the phone is signed out at its next request');
    assert.equal(await isSignedIn(laptop), true, 'the laptop stays signed in');
    assert.equal(await prisma().userSession.count({ where: { id: phoneSession.id } }), 0);
    const audited = await prisma().auditEvent.findFirst({
      where: { userId: user.id, type: 'sign_out', detail: { path: ['session'], equals: phoneSession.id } },
    });
    assert.ok(audited, 'the remote sign-out is in the audit trail');
    assert.deepEqual(audited.detail, { remote: true, session: phoneSession.id });
  });

  it('ends a session signed out while it fires requests, and it stays ended', async () => {
    for (let round = 0; round < 5; round += 1) {
      const { laptop, phone, phoneSession } = await personOnTwoBrowsers();
      const page = await laptop.get('/account').expect(200);
      const [press, ...inFlight] = await Promise.all([
        laptop
          .post(`/account/sessions/${phoneSession.id}/sign-out`)
          .type('form')
          .send({ _csrf: csrfTokenIn(page.text) }),
        ...Array.from({ length: 12 }, () => phone.get('/account')),
      ]);
      assert.equal(press.status, 303);
      for (const response of inFlight) assert.ok([200, 303].includes(response.status), `answered ${response.status}`);
      for (let again = 0; again < 3; again += 1)
        assert.equal(await isSignedIn(phone), false, `round ${round}: the session came back`);
      assert.equal(await prisma().userSession.count({ where: { id: phoneSession.id } }), 0);
    }
  });

  it("cannot sign out someone else's session: 404, and nothing changes", async () => {
    const victim = await personOnTwoBrowsers();
    const attacker = browser(running.app, FIREFOX);
    await signUp(attacker);
    const response = await signOutSession(attacker, `/account/sessions/${victim.phoneSession.id}/sign-out`);
    assert.equal(response.status, 404);
    assert.match(response.text, /not one of yours/);
    assert.equal(await prisma().userSession.count({ where: { userId: victim.user.id } }), 2);
    assert.equal(await isSignedIn(victim.phone), true);
    assert.equal(await isSignedIn(victim.laptop), true);
    // Not a session id at all: the same 404.
    assert.equal((await signOutSession(attacker, '/account/sessions/not-an-id/sign-out')).status, 404);
  });

  it('signing out this session from the list signs it out', async () => {
    const { laptop, laptopSession } = await personOnTwoBrowsers();
    const response = await signOutSession(laptop, `/account/sessions/${laptopSession.id}/sign-out`);
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login');
    assert.equal(await isSignedIn(laptop), false);
  });

  it('removes the row at sign-out and at "sign out everywhere"', async () => {
    const { user, laptop, phone } = await personOnTwoBrowsers();
    const page = await phone.get('/account').expect(200);
    await phone
      .post('/logout')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text) })
      .expect(303);
    assert.equal(await prisma().userSession.count({ where: { userId: user.id } }), 1);
    const account = await laptop.get('/account').expect(200);
    await laptop
      .post('/account/sign-out-everywhere')
      .type('form')
      .send({ _csrf: csrfTokenIn(account.text) })
      .expect(303);
    assert.equal(await prisma().userSession.count({ where: { userId: user.id } }), 0);
  });

  it('writes last seen at most once a minute, and prunes rows past their lifetime', async () => {
    const { user, laptop, laptopSession } = await personOnTwoBrowsers();
    const first = await prisma().userSession.findUniqueOrThrow({ where: { id: laptopSession.id } });
    await laptop.get('/account').expect(200);
    const unchanged = await prisma().userSession.findUniqueOrThrow({ where: { id: laptopSession.id } });
    assert.equal(unchanged.lastSeenAt.getTime(), first.lastSeenAt.getTime(), 'not written on every request');

    const twoMinutesAgo = new Date(Date.now() - 120_000);
    await prisma().userSession.update({ where: { id: laptopSession.id }, data: { lastSeenAt: twoMinutesAgo } });
    await laptop.get('/account').expect(200);
    const touched = await prisma().userSession.findUniqueOrThrow({ where: { id: laptopSession.id } });
    assert.ok(touched.lastSeenAt.getTime() > Date.now() - 10_000, 'written once a minute has passed');

    // A row idle past its timeout is no longer listed, and the next sign-in prunes it.
    const idle = new Date(Date.now() - running.app.config.session.idleTimeoutMs - 5 * 60_000);
    await prisma().userSession.updateMany({
      where: { userId: user.id, NOT: { id: laptopSession.id } },
      data: { lastSeenAt: idle },
    });
    const section = sessionsSection((await laptop.get('/account').expect(200)).text);
    assert.doesNotMatch(section, /Safari on iOS/);
    await signIn(
      browser(running.app, SAFARI),
      (await prisma().user.findUniqueOrThrow({ where: { id: user.id } })).email,
      strongPassword,
    );
    assert.equal(await prisma().userSession.count({ where: { userId: user.id, lastSeenAt: idle } }), 0);
  });

  it('treats a session signed in before the rows existed (no row id) as signed out, without an error', async () => {
    const { laptop } = await personOnTwoBrowsers();
    const { value } = (
      laptop as unknown as { jar: { getCookie(name: string, access: object): { value: string } } }
    ).jar.getCookie('tfa.sid', { domain: '127.0.0.1', path: '/', secure: false, script: false });
    await editStoredSession<{ passport: { user: Record<string, unknown> } }>(
      running.app,
      `tfa.sid=${value}`,
      (stored) => {
        delete stored.passport.user.sid;
      },
    );
    const response = await laptop.get('/account');
    assert.equal(response.status, 303);
    assert.match(response.headers.location ?? '', /^\/login/);
  });

  describe('sign-ins through the JSON API', () => {
    async function apiSignIn(email: string) {
      const response = await request(running.app.url)
        .post('/api/auth/token')
        .set('User-Agent', 'curl/8.5.0')
        .send({ grant_type: 'password', email, password: strongPassword })
        .expect(200);
      return response.body as { access_token: string; refresh_token: string };
    }

    it('are listed as API sign-ins, and signing one out ends its refresh and access tokens', async () => {
      const { email, user, laptop } = await personOnTwoBrowsers();
      const tokens = await apiSignIn(email);
      const family = await prisma().refreshToken.findFirstOrThrow({ where: { userId: user.id } });
      const section = sessionsSection((await laptop.get('/account').expect(200)).text);
      assert.match(section, /API sign-in \(curl\)/);
      assert.ok(section.includes(`action="/account/api-sign-ins/${family.familyId}/sign-out"`));

      // Another person cannot end it.
      const stranger = browser(running.app, FIREFOX);
      await signUp(stranger);
      const refused = await signOutSession(stranger, `/account/api-sign-ins/${family.familyId}/sign-out`);
      assert.equal(refused.status, 404);
      await request(running.app.url)
        .get('/api/auth/protected')
        .set('Authorization', `Bearer ${tokens.access_token}`)
        .expect(200);

      const response = await signOutSession(laptop, `/account/api-sign-ins/${family.familyId}/sign-out`);
      assert.equal(response.status, 303);
      const refreshed = await request(running.app.url)
        .post('/api/auth/token')
        .send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
      assert.equal(refreshed.status, 400);
      assert.equal((refreshed.body as { error: string }).error, 'invalid_grant');
      await request(running.app.url)
        .get('/api/auth/protected')
        .set('Authorization', `Bearer ${tokens.access_token}`)
        .expect(401);
      assert.doesNotMatch(sessionsSection((await laptop.get('/account').expect(200)).text), /API sign-in/);
      assert.ok(
        await prisma().auditEvent.findFirst({
          where: { userId: user.id, type: 'token_revoked', detail: { path: ['remote'], equals: true } },
        }),
      );
    });
  });
});
