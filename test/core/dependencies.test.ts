// When the database or Redis goes away, nobody gets in, people see a calm 503 page, /readyz
// says what is wrong, and everything recovers when the dependency comes back.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  cookiesSet,
  csrfTokenIn,
  redisUrl,
  sessionCookie,
  signIn,
  signUp,
  appForTests,
  startTestApp,
  strongPassword,
} from '../support/app.js';
import { eventually } from '../support/eventually.js';

interface Readiness {
  status: string;
  checks: Record<string, string>;
}

describe('health probes', () => {
  const running = appForTests();

  it('says the process is up on /healthz and ready on /readyz', async () => {
    const health = await running.app.agent().get('/healthz').expect(200);
    assert.deepEqual(health.body, { status: 'ok' });
    const ready = await running.app.agent().get('/readyz').expect(200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok', sessions: 'ok' } });
  });
});

describe('when the database goes away', () => {
  const running = appForTests({ proxyDatabase: true });
  let email: string;
  before(async () => {
    ({ email } = await signUp(running.app.agent()));
  });

  it('reports 503 on /readyz, refuses sign-in calmly, and recovers when it is back', async () => {
    const agent = running.app.agent();
    const form = await agent.get('/login').expect(200);
    running.app.databaseProxy!.down();

    const ready = await running.app.agent().get('/readyz');
    assert.equal(ready.status, 503);
    assert.equal((ready.body as Readiness).checks.database, 'unavailable');

    const attempt = await agent
      .post('/login')
      .type('form')
      .send({ email, password: strongPassword, _csrf: csrfTokenIn(form.text) });
    assert.equal(attempt.status, 503);
    assert.match(attempt.text, /Temporarily unavailable/);
    assert.doesNotMatch(attempt.text, /at .*\.(js|ts):\d+|Prisma|ECONN/);
    const cookieAfter = sessionCookie(attempt);
    assert.ok(cookieAfter === undefined || cookieAfter === sessionCookie(form), 'no new session was granted');
    await agent.get('/account').expect(303);

    running.app.databaseProxy!.up();
    await eventually(async () => (await running.app.agent().get('/readyz')).status === 200, '/readyz is ready again');
    assert.equal((await signIn(agent, email, strongPassword)).status, 303);
    await agent.get('/account').expect(200);
  });

  it('does not show a signed-in page while the database is away', async () => {
    const agent = running.app.agent();
    assert.equal((await signIn(agent, email, strongPassword)).status, 303);
    running.app.databaseProxy!.down();
    try {
      const account = await agent.get('/account');
      assert.equal(account.status, 503);
      assert.ok(!account.text.includes(email), 'no account data is shown');
    } finally {
      running.app.databaseProxy!.up();
    }
  });
});

describe(
  'when Redis goes away',
  { skip: redisUrl ? false : 'TEST_REDIS_URL is not set: no Redis to test against' },
  () => {
    const running = appForTests({ proxyRedis: true });
    let email: string;
    before(async () => {
      ({ email } = await signUp(running.app.agent()));
    });

    it('keeps sessions in Redis, shared by every instance', async () => {
      assert.equal(running.app.services.sessions.kind, 'redis');
      const agent = running.app.agent();
      const other = await startTestApp({
        proxyRedis: true,
        databaseUrl: running.app.databaseUrl,
        env: { REDIS_PREFIX: running.app.config.redisPrefix },
      });
      try {
        // A second instance of the same deployment recognises the session signed in on the first.
        const signedIn = await signIn(agent, email, strongPassword);
        const onOther = await other.agent().get('/login').set('Cookie', sessionCookie(signedIn)!);
        assert.equal(onOther.status, 303, 'the other instance sees a signed-in session');
      } finally {
        await other.close();
      }
    });

    it('reports 503 on /readyz, lets nobody in, and recovers without a restart', async () => {
      const agent = running.app.agent();
      assert.equal((await signIn(agent, email, strongPassword)).status, 303);
      running.app.redisProxy!.down();

      await eventually(
        async () => (await running.app.agent().get('/readyz')).status === 503,
        '/readyz reports Redis down',
      );
      const ready = await running.app.agent().get('/readyz');
      assert.equal((ready.body as Readiness).checks.sessions, 'unavailable');
      assert.equal((ready.body as Readiness).checks.database, 'ok');

      const account = await agent.get('/account');
      assert.equal(account.status, 503);
      assert.match(account.text, /Temporarily unavailable/);
      assert.ok(!account.text.includes(email));
      // The sign-in form needs no session (its token is a signed cookie), so it is served;
      // signing in is what needs Redis, and is refused.
      const form = await running.app.agent().get('/login');
      assert.equal(form.status, 200);
      const attempt = await running.app
        .agent()
        .post('/login')
        .set('Cookie', cookiesSet(form).join('; '))
        .type('form')
        .send({ email, password: strongPassword, _csrf: csrfTokenIn(form.text) });
      assert.equal(attempt.status, 503);
      assert.equal(sessionCookie(attempt), undefined);

      running.app.redisProxy!.up();
      await eventually(async () => (await running.app.agent().get('/readyz')).status === 200, '/readyz is ready again');
      await agent.get('/account').expect(200);
    });
  },
);
