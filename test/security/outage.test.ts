// During an outage every request gets an answer: the calm 503 page, or the page itself where
// it needs nothing that is down. Never a 500, never a dropped connection, never a form that
// could only fail when sent, never "nothing was changed" when something may have been; and
// everything recovers on its own. Redis is cut under load, and in the middle of requests that
// have already written to the database (they are parked on a table lock while it is cut).
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import pg from 'pg';
import {
  appForTests,
  confirmPassword,
  csrfTokenIn,
  redisUrl,
  sessionCookie,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  uniqueEmail,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { untilWaitingOnLock } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';
import { Visitor, type Outcome } from '../support/visitor.js';

const needsServices = redisUrl && process.env.TEST_DATABASE_URL ? false : 'needs TEST_REDIS_URL and TEST_DATABASE_URL';
const CONNECTIONS = 50;

async function readyAgain(app: TestApp): Promise<void> {
  app.redisProxy!.up();
  app.databaseProxy?.up();
  await eventually(async () => (await app.agent().get('/readyz')).status === 200, '/readyz is ready again');
}

/**
 * Runs `send` while every write to `table` (the audit trail unless told) waits on a table lock;
 * once the request waits there (it has written what comes before), `dependency` is cut and the
 * lock released, so the request goes on without it.
 */
async function cutMidRequest<T>(
  app: TestApp,
  dependency: 'redis' | 'database',
  send: () => PromiseLike<T>,
  table = 'audit_events',
): Promise<T> {
  const blocker = new pg.Client({ connectionString: app.databaseUrl });
  await blocker.connect();
  let answer: Promise<T>;
  try {
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
    answer = Promise.resolve(send());
    await untilWaitingOnLock(blocker, 'the request waits on the audit trail');
    (dependency === 'redis' ? app.redisProxy : app.databaseProxy)!.down();
  } finally {
    await blocker.query('COMMIT').catch(() => {});
    await blocker.end();
  }
  return answer;
}

function assertCalm503(response: { status: number; text: string }): void {
  assert.equal(response.status, 503, response.text.slice(0, 300));
  assert.match(response.text, /Temporarily unavailable/);
  assert.doesNotMatch(response.text, /Nothing was changed/, 'something was written before the failure');
}

describe('while Redis is cut', { skip: needsServices }, () => {
  const running = appForTests({ proxyRedis: true });
  afterEach(() => readyAgain(running.app));

  it(`answers every request of ${CONNECTIONS} keep-alive connections, with 503 as the only server error, and recovers`, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const outcomes: Outcome[] = [];
    const visitors = Array.from(
      { length: CONNECTIONS },
      () => new Visitor(running.app.url, agent, (outcome) => outcomes.push(outcome)),
    );
    try {
      // Each visitor holds its form token (a cookie: no session is stored for it).
      await Promise.all(visitors.map((visitor) => visitor.get('/login')));
      running.app.redisProxy!.down();
      outcomes.length = 0;
      await Promise.all(
        visitors.map(async (visitor) => {
          for (let round = 0; round < 4; round += 1) {
            await visitor
              .submit('/login', '/login', { email: uniqueEmail('outage'), password: strongPassword })
              .catch(() => {});
          }
        }),
      );
    } finally {
      agent.destroy();
    }
    assert.deepEqual(
      outcomes.filter((outcome) => 'unanswered' in outcome),
      [],
      'every request was answered',
    );
    const statuses = (method: string) =>
      new Set(
        outcomes
          .filter((outcome) => outcome.route.startsWith(method))
          .map((outcome) => ('status' in outcome ? outcome.status : 0)),
      );
    // The form needs no session, so it is still served; no sign-in can be counted or kept.
    assert.deepEqual([...statuses('GET')], [200]);
    assert.deepEqual([...statuses('POST')], [503]);

    await readyAgain(running.app);
    const person = running.app.agent();
    const { email } = await signUp(person);
    assert.equal((await signIn(running.app.agent(), email, strongPassword)).status, 303, 'sign-in works again');
  });

  it('still serves the forms of visitors who have not signed in: they need no session', async () => {
    running.app.redisProxy!.down();
    for (const page of ['/login', '/signup', '/']) {
      const response = await running.app.agent().get(page);
      assert.equal(response.status, 200, `${page} answered ${response.status}`);
      assert.equal(sessionCookie(response), undefined, 'no session cookie');
    }
  });

  it('says nothing was changed when the session could not even be read', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    const form = await agent.get('/account').expect(200);
    running.app.redisProxy!.down();
    const attempt = await agent
      .post('/account/sign-out-everywhere')
      .type('form')
      .send({ _csrf: csrfTokenIn(form.text) });
    assert.equal(attempt.status, 503);
    assert.match(attempt.text, /Nothing was changed/);
  });
});

describe('while Redis does not answer', { skip: needsServices }, () => {
  const running = appForTests({ proxyRedis: true });
  afterEach(() => readyAgain(running.app));

  // Without a time limit on Redis these requests wait for as long as it stays silent: the
  // test's own time-out is what fails.
  it('answers signed-in pages and a sign-in 503, lets nobody in, and recovers', { timeout: 30_000 }, async () => {
    const member = running.app.agent();
    const { email } = await signUp(member);
    await member.get('/account').expect(200);
    const visitor = running.app.agent();
    const form = await visitor.get('/login').expect(200);

    running.app.redisProxy!.hang();
    const answers = await Promise.all(
      Object.entries({
        'GET /account, signed in': member.get('/account'),
        'POST /login': visitor
          .post('/login')
          .type('form')
          .send({ email, password: strongPassword, _csrf: csrfTokenIn(form.text) }),
      }).map(async ([request, answer]) => ({ request, response: await answer })),
    );
    for (const { request, response } of answers) {
      assert.equal(response.status, 503, `${request} answered ${response.status}`);
      assert.match(response.text, /Temporarily unavailable/);
      assert.equal(sessionCookie(response), undefined, 'no cookie for a session that was never stored');
    }

    await readyAgain(running.app);
    assert.equal((await visitor.get('/account')).status, 303, 'the sign-in during the silence let nobody in');
    await member.get('/account').expect(200);
    assert.equal((await signIn(running.app.agent(), email, strongPassword)).status, 303, 'sign-in works again');
  });
});

describe('when Redis goes in the middle of a request', { skip: needsServices }, () => {
  const running = appForTests({ proxyRedis: true });
  afterEach(() => readyAgain(running.app));

  it('answers a sign-up whose account was written 503 (not 500), without "nothing was changed"', async () => {
    const agent = running.app.agent();
    const email = uniqueEmail('mid-sign-up');
    const form = await agent.get('/signup').expect(200);
    const response = await cutMidRequest(running.app, 'redis', () =>
      agent
        .post('/signup')
        .type('form')
        .send({ email, password: strongPassword, passwordConfirmation: strongPassword, _csrf: csrfTokenIn(form.text) }),
    );
    assertCalm503(response);

    await readyAgain(running.app);
    assert.equal(
      (await signIn(running.app.agent(), email, strongPassword)).status,
      303,
      'the account is there, and signs in',
    );
  });

  it('answers a sign-out whose audit event was written 503 (not 500)', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    const account = await agent.get('/account').expect(200);
    const response = await cutMidRequest(running.app, 'redis', () =>
      agent
        .post('/logout')
        .type('form')
        .send({ _csrf: csrfTokenIn(account.text) }),
    );
    assertCalm503(response);
  });
});

describe('when a dependency goes in the middle of a code step', { skip: needsServices }, () => {
  const twilio = appOnTwilio({ proxyRedis: true, proxyDatabase: true });
  afterEach(() => readyAgain(twilio.app));

  async function atCodeStep(): Promise<{ agent: Agent; phone: string }> {
    const phone = '+33612349901';
    const owner = twilio.app.agent();
    const { email } = await signUp(owner);
    await turnOnTwoFactor(owner, twilio.standIn, phone);
    const agent = twilio.app.agent();
    const password = await signIn(agent, email, strongPassword);
    assert.equal(password.headers.location, '/login/2fa');
    return { agent, phone };
  }

  it('answers the right code 503 (not 500) when the session cannot be renewed, and lets nobody in', async () => {
    const { agent, phone } = await atCodeStep();
    const page = await agent.get('/login/2fa').expect(200);
    const response = await cutMidRequest(twilio.app, 'redis', () =>
      agent
        .post('/login/2fa')
        .type('form')
        .send({ code: twilio.standIn.lastCodeFor(phone)!, _csrf: csrfTokenIn(page.text) }),
    );
    assertCalm503(response);
    await readyAgain(twilio.app);
    assert.equal((await agent.get('/account')).status, 303, 'not signed in');
  });

  it('does not say "nothing was changed" when the database goes between turning 2FA on and its audit event', async () => {
    const agent = twilio.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const phone = '+33612349902';
    const sent = await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' });
    assert.equal(sent.status, 303);
    const page = await agent.get('/account/2fa/verify').expect(200);
    const response = await cutMidRequest(twilio.app, 'database', () =>
      agent
        .post('/account/2fa/verify')
        .type('form')
        .send({ code: twilio.standIn.lastCodeFor(phone)!, _csrf: csrfTokenIn(page.text) }),
    );
    assertCalm503(response);
  });
});

describe('when the database goes in the middle of a password change or reset', { skip: needsServices }, () => {
  const running = appForTests({ proxyRedis: true, proxyDatabase: true });
  afterEach(() => readyAgain(running.app));
  const newPassword = 'purple elephant kitchen radio';

  it('changes the password all or nothing: 503, the old password still works, other sessions go on', async () => {
    const { app } = running;
    const agent = app.agent();
    const { email } = await signUp(agent);
    const elsewhere = app.agent();
    assert.equal((await signIn(elsewhere, email, strongPassword)).status, 303);
    const page = await agent.get('/account/password').expect(200);
    // Parked after the new hash and the end of every other session were written, in the same transaction.
    const response = await cutMidRequest(
      app,
      'database',
      () =>
        agent
          .post('/account/password')
          .type('form')
          .send({
            _csrf: csrfTokenIn(page.text),
            currentPassword: strongPassword,
            password: newPassword,
            passwordConfirmation: newPassword,
          }),
      'email_tokens',
    );
    assert.equal(response.status, 503, response.text.slice(0, 300));
    assert.match(response.text, /Temporarily unavailable/);
    await readyAgain(app);
    assert.equal((await elsewhere.get('/account')).status, 200, 'the other session was not ended');
    assert.equal((await signIn(app.agent(), email, newPassword)).status, 401, 'the new password was not kept');
    assert.equal((await signIn(app.agent(), email, strongPassword)).status, 303, 'the old password still works');
  });

  it('resets the password all or nothing: 503, and the link still works once the database is back', async () => {
    const { app } = running;
    const { email } = await signUp(app.agent());
    assert.equal((await submitForm(app.agent(), '/forgot-password', '/forgot-password', { email })).status, 200);
    let link: string | undefined;
    await eventually(async () => {
      const outbox = await app.agent().get('/dev/outbox');
      link = /\/reset-password\/[A-Za-z0-9_-]+/.exec(outbox.text)?.[0];
      return link !== undefined;
    }, 'the reset mail is in the outbox');
    const agent = app.agent();
    const page = await agent.get(link!).expect(200);
    const send = () =>
      agent
        .post(link!)
        .type('form')
        .send({ _csrf: csrfTokenIn(page.text), password: newPassword, passwordConfirmation: newPassword });
    // Parked at its audit event, after the link was used and the password written, in the same transaction.
    const response = await cutMidRequest(app, 'database', send);
    assert.equal(response.status, 503, response.text.slice(0, 300));
    assert.match(response.text, /Temporarily unavailable/);
    await readyAgain(app);
    assert.equal((await signIn(app.agent(), email, strongPassword)).status, 303, 'the old password still works');
    const again = await send();
    assert.equal(again.status, 303, 'the link was not used up');
    assert.equal((await signIn(app.agent(), email, newPassword)).status, 303);
  });
});

describe('the HTTP server', () => {
  const running = appForTests();

  it(
    "answers 408 and closes a connection whose headers never finish, long before Node's default minute",
    { timeout: 30_000 },
    async () => {
      const { hostname, port } = new URL(running.app.url);
      const socket = net.connect(Number(port), hostname);
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nX-Trickle: 1\r\n');
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
      await new Promise<void>((resolve) => socket.on('close', () => resolve()));
      assert.match(received, /^HTTP\/1\.1 408/);
    },
  );
});

describe('the request log', () => {
  const logs: Array<Record<string, unknown>> = [];
  const running = appForTests({ logs, proxyDatabase: true });
  const lineOf = (id: string) => logs.find((entry) => (entry.req as { id?: string } | undefined)?.id === id);

  it('names the path, never the query string', async () => {
    await running.app
      .agent()
      .get('/login?next=%2Faccount%3Fsecret%3Dquery-secret-42')
      .set('X-Request-Id', 'query-string-check')
      .expect(200);
    const line = logs.find((entry) => (entry.req as { id?: string } | undefined)?.id === 'query-string-check');
    assert.equal((line?.req as { url?: string } | undefined)?.url, '/login');
    assert.ok(!JSON.stringify(logs).includes('query-secret-42'), 'nothing of the query string is logged');
  });

  it('says one line per request: what was asked, the answer and its time; an error line with the error for a 5xx', async () => {
    const agent = running.app.agent();
    const page = await agent.get('/signup').set('X-Request-Id', 'log-line-ok').expect(200);
    assert.equal(page.headers['x-request-id'], 'log-line-ok');
    const fresh = await agent.get('/login').set('X-Request-Id', 'not a plain token').expect(200);
    assert.match(
      String(fresh.headers['x-request-id']),
      /^[0-9a-f-]{36}$/,
      'a new ID for one that is not a plain token',
    );
    running.app.databaseProxy!.down();
    try {
      await agent
        .post('/signup')
        .type('form')
        .set('X-Request-Id', 'log-line-failed')
        .send({
          email: uniqueEmail('log'),
          password: strongPassword,
          passwordConfirmation: strongPassword,
          _csrf: csrfTokenIn(page.text),
        })
        .expect(503);
    } finally {
      running.app.databaseProxy!.up();
    }
    await eventually(() => Promise.resolve(lineOf('log-line-failed') !== undefined), 'the failed request is logged');
    const ok = lineOf('log-line-ok')!;
    assert.deepEqual(
      { ...ok, time: 0, pid: 0, hostname: 0, responseTime: typeof ok.responseTime },
      {
        level: 30,
        time: 0,
        pid: 0,
        hostname: 0,
        req: { id: 'log-line-ok', method: 'GET', url: '/signup', ip: '127.0.0.1' },
        res: { statusCode: 200 },
        responseTime: 'number',
        msg: 'request completed',
      },
    );
    assert.equal(logs.filter((entry) => (entry.req as { id?: string } | undefined)?.id === 'log-line-ok').length, 1);
    const failed = lineOf('log-line-failed')!;
    assert.deepEqual(Object.keys(failed), [
      'level',
      'time',
      'pid',
      'hostname',
      'req',
      'res',
      'err',
      'responseTime',
      'msg',
    ]);
    assert.equal(failed.level, 50, 'a 5xx is logged as an error');
    assert.equal(failed.msg, 'request errored');
    assert.deepEqual(failed.res, { statusCode: 503 });
    const err = failed.err as { type?: string; message?: string; stack?: string };
    assert.equal(err.type, 'DependencyUnavailableError', 'the error the error handler met, serialised');
    assert.ok(err.stack);
  });
});
