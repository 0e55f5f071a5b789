// Two real app processes on one Redis and one Postgres, as behind a load balancer: a sign-in
// may start on one and finish on the other, and the limits count across both.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import { cookiesSet, csrfTokenIn, redisUrl, sessionCookie, strongPassword, uniqueEmail } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { startServer, stop, type RunningServer } from '../support/processes.js';
import { startTwilioStandIn, twilioEnv } from '../support/twilio.js';

/** A form's token, and the Cookie header to post it with: the session's (when given) and the token's. */
async function form(url: string, path: string, session: string | undefined) {
  const page = request(url).get(path);
  if (session) void page.set('Cookie', session);
  const response = await page.expect(200);
  const cookie = [...(session ? [session] : []), ...cookiesSet(response)].join('; ');
  return { token: csrfTokenIn(response.text), cookie };
}

async function post(url: string, path: string, session: string, fields: Record<string, string>) {
  const { token, cookie } = await form(url, path, session);
  return request(url)
    .post(path)
    .set('Cookie', cookie)
    .type('form')
    .send({ ...fields, _csrf: token });
}

describe(
  'two app processes behind one load balancer',
  { skip: redisUrl ? false : 'TEST_REDIS_URL is not set: no shared Redis to test against' },
  () => {
    let database: TestDatabase;
    let standIn: TwilioStandIn;
    let servers: RunningServer[] = [];
    before(async () => {
      database = await createTestDatabase();
      standIn = await startTwilioStandIn();
      const shared = {
        DATABASE_URL: database.url,
        REDIS_URL: redisUrl!,
        REDIS_PREFIX: `test:instances:${randomBytes(4).toString('hex')}:`,
        SESSION_SECRET: 'shared-secret-of-the-deployment-0123456789abcdef',
        ...twilioEnv(standIn.url),
      };
      servers = await Promise.all([startServer(shared), startServer(shared)]);
    });
    after(async () => {
      await Promise.all(servers.map((server) => stop(server)));
      await standIn.stop();
      await database.drop();
    });

    it('signs up on one, starts sign-in on it, and finishes the code step on the other', async () => {
      const [a, b] = servers.map((server) => server.url) as [string, string];
      const email = uniqueEmail('lb');
      const signup = await form(a, '/signup', undefined);
      const created = await request(a)
        .post('/signup')
        .set('Cookie', signup.cookie)
        .type('form')
        .send({ email, password: strongPassword, passwordConfirmation: strongPassword, _csrf: signup.token });
      assert.equal(created.status, 303);
      const session = sessionCookie(created)!;
      const phone = '+33655000001';
      assert.equal(
        (await post(a, '/account/confirm-password', session, { password: strongPassword })).status,
        303,
        'password confirmed on A',
      );
      assert.equal(
        (await post(b, '/account/2fa', session, { phone, country: 'FR' })).status,
        303,
        'enrolment starts on B',
      );
      assert.equal(
        (await post(a, '/account/2fa/verify', session, { code: standIn.lastCodeFor(phone)! })).status,
        303,
        'and finishes on A',
      );

      const login = await form(a, '/login', undefined);
      const passwordOk = await request(a)
        .post('/login')
        .set('Cookie', login.cookie)
        .type('form')
        .send({ email, password: strongPassword, _csrf: login.token });
      assert.equal(passwordOk.headers.location, '/login/2fa');
      const pending = sessionCookie(passwordOk)!;
      const done = await post(b, '/login/2fa', pending, { code: standIn.lastCodeFor(phone)! });
      assert.equal(done.status, 303);
      assert.equal(done.headers.location, '/account');
      await request(a).get('/account').set('Cookie', sessionCookie(done)!).expect(200);
    });

    it('counts failed sign-ins on both processes toward one account lock', async () => {
      const [a, b] = servers.map((server) => server.url) as [string, string];
      const email = uniqueEmail('lbguess');
      const signup = await form(a, '/signup', undefined);
      await request(a)
        .post('/signup')
        .set('Cookie', signup.cookie)
        .type('form')
        .send({ email, password: strongPassword, passwordConfirmation: strongPassword, _csrf: signup.token })
        .expect(303);
      for (let i = 0; i < 5; i += 1) {
        const url = i % 2 === 0 ? a : b;
        const login = await form(url, '/login', undefined);
        const wrong = await request(url)
          .post('/login')
          .set('Cookie', login.cookie)
          .type('form')
          .send({ email, password: `nope ${i}`, _csrf: login.token });
        assert.equal(wrong.status, 401);
      }
      for (const url of [a, b]) {
        const login = await form(url, '/login', undefined);
        const locked = await request(url)
          .post('/login')
          .set('Cookie', login.cookie)
          .type('form')
          .send({ email, password: strongPassword, _csrf: login.token });
        assert.equal(locked.status, 429, url);
      }
    });
  },
);
