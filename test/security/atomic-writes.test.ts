// A database cut in the middle of requests leaves nothing half-done: each change lands with its
// audit event or not at all, and nobody is told "Nothing was changed" when something was.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appForTests,
  confirmPassword,
  csrfTokenIn,
  strongPassword,
  submitForm,
  uniqueEmail,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { appOnTwilio } from '../support/twilio.js';

const ROUNDS = 6;
const PEOPLE_PER_ROUND = 24;

type Reply = Awaited<ReturnType<Agent['get']>>;

/** Sends every request at once and cuts the database as soon as `cutAfter` of them have answered. */
async function cutDatabaseMidway(
  app: TestApp,
  requests: Array<() => Promise<Reply>>,
  cutAfter: number,
): Promise<Reply[]> {
  let answered = 0;
  const replies = await Promise.all(
    requests.map((send) =>
      send().then((reply) => {
        answered += 1;
        if (answered === cutAfter) app.databaseProxy!.down();
        return reply;
      }),
    ),
  );
  app.databaseProxy!.up();
  for (let attempt = 0; attempt < 400; attempt += 1) {
    if ((await app.agent().get('/readyz')).status === 200) return replies;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the database did not come back');
}

function assertCalm(replies: Reply[], allowed: number[]): void {
  for (const reply of replies)
    assert.ok(allowed.includes(reply.status), `answered ${reply.status}: ${reply.text.slice(0, 300)}`);
}

describe('a database cut in the middle of sign-ups', () => {
  const running = appForTests({ proxyDatabase: true });

  it('leaves no account without its sign_up event and no event without its account, and says what happened', async () => {
    const prisma = running.app.services.database.prisma;
    for (let round = 0; round < ROUNDS; round += 1) {
      const people = await Promise.all(
        Array.from({ length: PEOPLE_PER_ROUND }, async () => {
          const agent = running.app.agent();
          const token = csrfTokenIn((await agent.get('/signup').expect(200)).text);
          return { agent, token, email: uniqueEmail('cut') };
        }),
      );
      const fields = (email: string) => ({ email, password: strongPassword, passwordConfirmation: strongPassword });
      const replies = await cutDatabaseMidway(
        running.app,
        people.map(
          ({ agent, token, email }) =>
            () =>
              agent
                .post('/signup')
                .type('form')
                .send({ ...fields(email), _csrf: token }),
        ),
        1 + (round % 3),
      );
      assertCalm(replies, [303, 503]);

      const withoutEvent = await prisma.user.count({ where: { auditEvents: { none: { type: 'sign_up' } } } });
      const withoutAccount = await prisma.auditEvent.count({ where: { type: 'sign_up', userId: null } });
      assert.equal(withoutEvent, 0, `round ${round}: accounts without their sign_up event`);
      assert.equal(withoutAccount, 0, `round ${round}: sign_up events without their account`);

      for (const [index, reply] of replies.entries()) {
        if (reply.status !== 503) continue;
        const { agent, email } = people[index]!;
        const exists = (await prisma.user.count({ where: { email } })) === 1;
        const retry = await submitForm(agent, '/signup', '/signup', fields(email));
        if (exists) {
          // The retry cannot succeed (the email is taken), so the first answer must have said so.
          assert.doesNotMatch(
            reply.text,
            /Nothing was changed/,
            `round ${round}: told "Nothing was changed" with the account created`,
          );
          assert.equal(retry.status, 409);
        } else {
          assert.equal(retry.status, 303, `round ${round}: the retry of a sign-up that did not happen failed`);
        }
      }
    }
  });
});

describe('a database cut in the middle of turning on two-factor authentication', () => {
  const twilio = appOnTwilio({ proxyDatabase: true });
  let phoneCounter = 0;

  it('leaves no phone on without its audit event, and says to send a new code when one was used up', async () => {
    const prisma = twilio.app.services.database.prisma;
    for (let round = 0; round < ROUNDS; round += 1) {
      const people = await Promise.all(
        Array.from({ length: PEOPLE_PER_ROUND }, async () => {
          const agent = twilio.app.agent();
          const email = uniqueEmail('enrol');
          const signedUp = await submitForm(agent, '/signup', '/signup', {
            email,
            password: strongPassword,
            passwordConfirmation: strongPassword,
          });
          assert.equal(signedUp.status, 303);
          phoneCounter += 1;
          const phone = `+3361288${String(phoneCounter).padStart(4, '0')}`;
          await confirmPassword(agent);
          assert.equal((await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' })).status, 303);
          const token = csrfTokenIn((await agent.get('/account/2fa/verify').expect(200)).text);
          return { agent, email, phone, token, code: twilio.standIn.lastCodeFor(phone)! };
        }),
      );
      const replies = await cutDatabaseMidway(
        twilio.app,
        people.map(
          ({ agent, token, code }) =>
            () =>
              agent.post('/account/2fa/verify').type('form').send({ code, _csrf: token }),
        ),
        1 + (round % 3),
      );
      assertCalm(replies, [303, 503]);

      const onWithoutEvent = await prisma.user.count({
        where: { factors: { some: {} }, auditEvents: { none: { type: 'two_factor_enabled' } } },
      });
      const eventWithoutOn = await prisma.user.count({
        where: { factors: { none: {} }, auditEvents: { some: { type: 'two_factor_enabled' } } },
      });
      assert.equal(onWithoutEvent, 0, `round ${round}: 2FA on without its two_factor_enabled event`);
      assert.equal(eventWithoutOn, 0, `round ${round}: a two_factor_enabled event with 2FA off`);

      for (const [index, reply] of replies.entries()) {
        if (reply.status !== 503) continue;
        const { agent, code } = people[index]!;
        const retry = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', { code });
        if (retry.status === 303) continue;
        // The same code no longer works: the first answer must have said to send a new one.
        assert.doesNotMatch(
          reply.text,
          /Nothing was changed/,
          `round ${round}: a used-up code read as "Nothing was changed"`,
        );
        assert.match(reply.text, /send a new code/);
      }
    }
  });
});

describe('a database cut in the middle of admin actions', () => {
  const running = appForTests({ proxyDatabase: true });

  /** Every hidden field of a page's forms (the CSRF token, and any confirmation token). */
  function hiddenFields(html: string): Record<string, string> {
    return Object.fromEntries(
      [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((match) => [
        match[1]!,
        match[2]!,
      ]),
    );
  }

  it('leaves no account locked without its admin_action event, and no event without its lock', async () => {
    const prisma = running.app.services.database.prisma;
    const adminEmail = uniqueEmail('admin');
    await submitForm(running.app.agent(), '/signup', '/signup', {
      email: adminEmail,
      password: strongPassword,
      passwordConfirmation: strongPassword,
    });
    await prisma.user.update({ where: { email: adminEmail }, data: { role: 'ADMIN' } });
    for (let round = 0; round < ROUNDS / 2; round += 1) {
      // One admin session per action, each holding the confirmation page of its own target
      // (signed in one after another: the account lock holds back parallel sign-ins).
      const actions = [];
      for (let index = 0; index < PEOPLE_PER_ROUND / 2; index += 1) {
        const email = uniqueEmail('target');
        await submitForm(running.app.agent(), '/signup', '/signup', {
          email,
          password: strongPassword,
          passwordConfirmation: strongPassword,
        });
        const target = await prisma.user.findUniqueOrThrow({ where: { email } });
        const admin = running.app.agent();
        assert.equal(
          (await submitForm(admin, '/login', '/login', { email: adminEmail, password: strongPassword })).status,
          303,
        );
        await confirmPassword(admin);
        const confirm = await admin.get(`/admin/users/${target.id}/lock`).expect(200);
        actions.push({ admin, target, fields: hiddenFields(confirm.text) });
      }
      const replies = await cutDatabaseMidway(
        running.app,
        actions.map(
          ({ admin, target, fields }) =>
            () =>
              admin.post(`/admin/users/${target.id}/lock`).type('form').send(fields),
        ),
        1 + (round % 3),
      );
      assertCalm(replies, [303, 503]);

      const events = await prisma.auditEvent.findMany({
        where: { type: 'admin_action', detail: { path: ['action'], equals: 'lock' } },
      });
      const audited = new Set(events.map((event) => (event.detail as { target: string }).target));
      const locked = new Set(
        (await prisma.user.findMany({ where: { lockedAt: { not: null } }, select: { id: true } })).map(
          (user) => user.id,
        ),
      );
      assert.deepEqual(
        [...locked].filter((id) => !audited.has(id)),
        [],
        `round ${round}: locked without its admin_action event`,
      );
      assert.deepEqual(
        [...audited].filter((id) => !locked.has(id)),
        [],
        `round ${round}: an admin_action lock event without the lock`,
      );
    }
  });
});
