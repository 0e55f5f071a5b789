// "Your sessions" on /account, over real HTTP: every signed-in session listed (browser, IP, last
// seen, this one marked) with a Sign out button for the others; a session signed out from
// another device is dead from its next request, even while it is firing requests; nobody can
// sign out someone else's session; sign-ins through the JSON API are listed and signed out too.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import { userSessions, userSessionsRepository } from '../../src/accounts/index.js';
import { auditLog } from '../../src/audit/index.js';
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

  it('makes a row only for a sign-in its account still holds (its generation, not locked), pruning idle ones', async () => {
    const { user, phoneSession } = await personOnTwoBrowsers();
    const { config } = running.app;
    const { database } = running.app.services;
    const sessions = userSessions({
      repository: userSessionsRepository(database),
      audit: auditLog(database),
      inTransaction: database.inTransaction,
      lifetime: config.session,
    });
    const context = { ip: '127.0.0.1', userAgent: FIREFOX };
    const rowOf = (id: string) => prisma().userSession.findUnique({ where: { id } });
    // "Sign out everywhere" or a lock since the sign-in read the account: an id with no row.
    const later = await sessions.start({ id: user.id, sessionGeneration: user.sessionGeneration + 1 }, false, context);
    assert.equal(await rowOf(later), null);
    await prisma().user.update({ where: { id: user.id }, data: { lockedAt: new Date() } });
    const locked = await sessions.start(user, false, context);
    assert.equal(await rowOf(locked), null);
    await prisma().user.update({ where: { id: user.id }, data: { lockedAt: null } });
    // A row idle past its timeout goes with the next sign-in of its account.
    await prisma().userSession.update({ where: { id: phoneSession.id }, data: { lastSeenAt: new Date(0) } });
    const held = await sessions.start(user, true, context);
    const row = await rowOf(held);
    assert.ok(row, 'a sign-in the account holds gets its row');
    assert.equal(row.browser, 'Firefox on Linux');
    assert.equal(row.idleSeconds, config.session.rememberMeMs / 1000);
    assert.equal(await rowOf(phoneSession.id), null);
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

  it('lists the 20 most recent of many, this session among them, and says how many more', async () => {
    const { user, laptop } = await personOnTwoBrowsers();
    // This session and the phone seen 30 s ago (not rewritten by the views below), so that 60
    // sessions seen since push them out of the 20 most recent; rows made as the sign-ins make
    // them, each seen a second before the last, the newest 20 seconds after this session.
    const now = Date.now();
    await prisma().userSession.updateMany({
      where: { userId: user.id },
      data: { lastSeenAt: new Date(now - 30_000) },
    });
    const many = Array.from({ length: 60 }, (_, index) => ({
      id: crypto.randomUUID(),
      userId: user.id,
      lastSeenAt: new Date(now - 10_000 - index * 1000),
      expiresAt: new Date(now + 3_600_000),
      idleSeconds: 3600,
      ip: '192.0.2.1',
      browser: 'Chrome on Windows',
    }));
    await prisma().userSession.createMany({ data: many });
    const rows = (html: string) => [...sessionsSection(html).matchAll(/<tr>\s*<td data-label="Browser">/g)].length;

    const section = sessionsSection((await laptop.get('/account').expect(200)).text);
    assert.equal(rows(section), 20);
    assert.equal([...section.matchAll(/\(This session\)/g)].length, 1);
    assert.match(section, /Firefox on Linux <strong>\(This session\)<\/strong>/);
    // The 19 seen last besides this one; not the 20th, nor the phone, seen before them all.
    for (const row of many.slice(0, 19)) assert.ok(section.includes(`/account/sessions/${row.id}/sign-out`));
    assert.ok(!section.includes(`/account/sessions/${many[19]!.id}/sign-out`));
    assert.doesNotMatch(section, /Safari on iOS/);
    // 62 in all (60, the phone and this one): 42 more.
    assert.match(section, /And 42 more sessions, seen less recently, not listed here\./);

    // Signing one out still works, and the next one seen comes into the list.
    const response = await signOutSession(laptop, `/account/sessions/${many[0]!.id}/sign-out`);
    assert.equal(response.status, 303);
    assert.equal(await prisma().userSession.count({ where: { id: many[0]!.id } }), 0);
    const after = sessionsSection((await laptop.get('/account').expect(200)).text);
    assert.equal(rows(after), 20);
    assert.ok(after.includes(`/account/sessions/${many[19]!.id}/sign-out`));
    assert.match(after, /And 41 more sessions/);
  });

  it('says nothing more when every session is listed', async () => {
    const { laptop } = await personOnTwoBrowsers();
    assert.doesNotMatch(sessionsSection((await laptop.get('/account').expect(200)).text), /more session/);
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

    it('are no longer listed once "Sign out everywhere" ended them', async () => {
      const { email, laptop } = await personOnTwoBrowsers();
      await apiSignIn(email);
      assert.match(sessionsSection((await laptop.get('/account').expect(200)).text), /API sign-in \(curl\)/);
      assert.equal((await signOutSession(laptop, '/account/sign-out-everywhere')).status, 303);
      const again = running.app.agent();
      assert.equal((await signIn(again, email, strongPassword)).status, 303);
      assert.doesNotMatch(sessionsSection((await again.get('/account').expect(200)).text), /API sign-in/);
    });

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

    it('count towards the 20 listed and the "more", the most recent first', async () => {
      const { email, laptop, user } = await personOnTwoBrowsers();
      // 25 browser sessions, then 3 API sign-ins, the most recent of all.
      const now = Date.now();
      await prisma().userSession.createMany({
        data: Array.from({ length: 25 }, (_, index) => ({
          userId: user.id,
          lastSeenAt: new Date(now - 1000 - index),
          expiresAt: new Date(now + 3_600_000),
          idleSeconds: 3600,
          browser: 'Chrome on Windows',
        })),
      });
      await Promise.all([apiSignIn(email), apiSignIn(email), apiSignIn(email)]);
      const section = sessionsSection((await laptop.get('/account').expect(200)).text);
      assert.equal([...section.matchAll(/<tr>\s*<td data-label="Browser">/g)].length, 20);
      assert.equal([...section.matchAll(/"Browser">API sign-in \(curl\)/g)].length, 3);
      assert.match(section, /\(This session\)/);
      // 27 browser sessions and 3 API sign-ins: 30 in all, 10 more.
      assert.match(section, /And 10 more sessions/);
    });
  });
});
