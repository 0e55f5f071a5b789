// Revocation against sign-ins racing it: "sign out everywhere" and an admin lock end every
// session that began before them, whatever is in flight, and no later press can miss one; and
// a change asked by a session the press ends (a new password, a change-of-email or verification
// link, 2FA off, the account's deletion) is not made after it.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import {
  appForTests,
  confirmPassword,
  csrfTokenIn,
  isSignedIn,
  signIn,
  signUp,
  strongPassword,
  uniqueEmail,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { untilWaitingOnLock, withoutPostgresServer } from '../support/databases.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';

const ROUNDS = 8;
const SIGN_INS_PER_ROUND = 12;
// The account lock holds back parallel attempts beyond it, right passwords included: here every
// one of the burst must reach the password check, to race the revocation.
const BURSTS_ALLOWED = { env: { LIMIT_SIGN_IN_LOCK_AFTER: String(4 * SIGN_INS_PER_ROUND) } };

/** Every hidden field of a page's forms (the CSRF token, and any confirmation token). */
function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[match[1]!] = match[2]!;
  return fields;
}

/** Agents at the sign-in form, each with its CSRF token and a User-Agent naming it in the audit trail. */
async function signInForms(app: TestApp, label: string) {
  return Promise.all(
    Array.from({ length: SIGN_INS_PER_ROUND }, async (_, index) => {
      const agent = app.agent();
      const token = csrfTokenIn((await agent.get('/login').expect(200)).text);
      return { agent, token, userAgent: `${label}-${index}` };
    }),
  );
}

function postSignIn(form: { agent: Agent; token: string; userAgent: string }, email: string) {
  return form.agent
    .post('/login')
    .set('User-Agent', form.userAgent)
    .type('form')
    .send({ email, password: strongPassword, _csrf: form.token });
}

async function pressSignOutEverywhere(agent: Agent) {
  const account = await agent.get('/account').expect(200);
  return agent
    .post('/account/sign-out-everywhere')
    .type('form')
    .send({ _csrf: csrfTokenIn(account.text) });
}

describe('sign out everywhere racing sign-ins', () => {
  const running = appForTests(BURSTS_ALLOWED);

  it('ends every session whose sign-in began before the press, and a later press misses none', async () => {
    const prisma = running.app.services.database.prisma;
    for (let round = 0; round < ROUNDS; round += 1) {
      const laptop = running.app.agent();
      const { email } = await signUp(laptop);
      const user = await prisma.user.findUniqueOrThrow({ where: { email } });
      const forms = await signInForms(running.app, `everywhere-${round}`);

      const [press, ...signIns] = await Promise.all([
        pressSignOutEverywhere(laptop),
        ...forms.map((form) => postSignIn(form, email)),
      ]);
      assert.equal(press.status, 303);
      for (const response of signIns) assert.equal(response.status, 303);

      // Audit ids come from one sequence: a sign-in whose password was accepted (so its account
      // row read) before the press was written down began before the press, and must be dead.
      const pressed = await prisma.auditEvent.findFirstOrThrow({
        where: { userId: user.id, type: 'sign_out', detail: { path: ['everywhere'], equals: true } },
      });
      for (const form of forms) {
        const accepted = await prisma.auditEvent.findFirstOrThrow({
          where: { userId: user.id, type: 'sign_in_password', outcome: 'ok', userAgent: form.userAgent },
        });
        if (accepted.id < pressed.id)
          assert.equal(
            await isSignedIn(form.agent),
            false,
            `round ${round}: ${form.userAgent} began before the press and survived it`,
          );
      }

      // Nothing in flight now: one more press ends every session of the user, none missed.
      const phone = running.app.agent();
      assert.equal((await signIn(phone, email, strongPassword)).status, 303);
      assert.equal((await pressSignOutEverywhere(phone)).status, 303);
      for (const agent of [laptop, phone, ...forms.map((form) => form.agent)]) {
        assert.equal(
          await isSignedIn(agent),
          false,
          `round ${round}: a session survived a press with nothing racing it`,
        );
      }
    }
  });
});

describe('an admin lock racing sign-ins', () => {
  const running = appForTests(BURSTS_ALLOWED);
  let admin: Agent;
  before(async () => {
    admin = running.app.agent();
    const { email } = await signUp(admin);
    await running.app.services.database.prisma.user.update({ where: { email }, data: { role: 'ADMIN' } });
  });

  async function adminAction(userId: string, action: 'lock' | 'unlock') {
    const confirm = await admin.get(`/admin/users/${userId}/${action}`).expect(200);
    return admin.post(`/admin/users/${userId}/${action}`).type('form').send(hiddenFields(confirm.text));
  }

  it('ends every session, and none comes back when the account is unlocked', async () => {
    const prisma = running.app.services.database.prisma;
    for (let round = 0; round < ROUNDS; round += 1) {
      const owner = running.app.agent();
      const { email } = await signUp(owner);
      const user = await prisma.user.findUniqueOrThrow({ where: { email } });
      const forms = await signInForms(running.app, `lock-${round}`);
      await confirmPassword(admin);
      const confirm = await admin.get(`/admin/users/${user.id}/lock`).expect(200);

      const [lock, ...signIns] = await Promise.all([
        admin.post(`/admin/users/${user.id}/lock`).type('form').send(hiddenFields(confirm.text)),
        ...forms.map((form) => postSignIn(form, email)),
      ]);
      assert.equal(lock.status, 303);
      for (const response of signIns)
        assert.ok([303, 403].includes(response.status), `a sign-in answered ${response.status}`);

      assert.equal((await adminAction(user.id, 'unlock')).status, 303);
      for (const agent of [owner, ...forms.map((form) => form.agent)]) {
        assert.equal(
          await isSignedIn(agent),
          false,
          `round ${round}: a session from before the lock is alive after the unlock`,
        );
      }
      assert.equal(
        (await signIn(running.app.agent(), email, strongPassword)).status,
        303,
        'the unlocked account signs in again',
      );
    }
  });
});

describe('a pending code step and sign out everywhere', () => {
  const twilio = appOnTwilio();
  let phoneCounter = 0;

  /** A person with 2FA on, fully signed in on one agent. */
  async function personWithTwoFactor() {
    const agent = twilio.app.agent();
    const { email } = await signUp(agent);
    phoneCounter += 1;
    const phone = `+3361299${String(phoneCounter).padStart(4, '0')}`;
    await turnOnTwoFactor(agent, twilio.standIn, phone);
    return { agent, email, phone };
  }

  async function passwordStep(email: string): Promise<Agent> {
    const agent = twilio.app.agent();
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.headers.location, '/login/2fa');
    return agent;
  }

  it('does not let a code step begun before the press sign anyone in after it', async () => {
    const { agent, email, phone } = await personWithTwoFactor();
    const pending = await passwordStep(email);
    const codePage = await pending.get('/login/2fa').expect(200);
    assert.equal((await pressSignOutEverywhere(agent)).status, 303);

    const entered = await pending
      .post('/login/2fa')
      .type('form')
      .send({ code: twilio.standIn.lastCodeFor(phone)!, _csrf: csrfTokenIn(codePage.text) });
    assert.notEqual(entered.headers.location, '/account', 'the right code after the press signs nobody in');
    assert.equal(await isSignedIn(pending), false);
    const user = await twilio.app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
    const pressed = await twilio.app.services.database.prisma.auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'sign_out' },
    });
    assert.equal(
      await twilio.app.services.database.prisma.auditEvent.count({
        where: { userId: user.id, type: 'sign_in', id: { gt: pressed.id } },
      }),
      0,
      'no sign-in after the press',
    );
  });

  it('ends a code step begun before the press even when the code is entered at the same moment', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { agent, email, phone } = await personWithTwoFactor();
      const pending = await passwordStep(email);
      const codePage = await pending.get('/login/2fa').expect(200);
      const code = twilio.standIn.lastCodeFor(phone)!;

      const [press, entered] = await Promise.all([
        pressSignOutEverywhere(agent),
        pending
          .post('/login/2fa')
          .type('form')
          .send({ code, _csrf: csrfTokenIn(codePage.text) }),
      ]);
      assert.equal(press.status, 303);
      assert.ok([303, 410, 422].includes(entered.status), `the code step answered ${entered.status}`);
      assert.equal(await isSignedIn(pending), false, `round ${round}: a code step begun before the press signed in`);
    }
  });
});

describe('a change in flight and sign out everywhere', { skip: withoutPostgresServer }, () => {
  const running = appForTests();
  const prisma = () => running.app.services.database.prisma;

  /** The owner signed in on one agent, an intruder who knows the password on another. */
  async function ownerAndIntruder() {
    const owner = running.app.agent();
    const { email } = await signUp(owner);
    const intruder = running.app.agent();
    assert.equal((await signIn(intruder, email, strongPassword)).headers.location, '/account');
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    return { owner, intruder, email, userId: user.id };
  }

  /**
   * The owner's press, held open after it raised the generation (another session of the
   * database holds the sessions' rows it deletes next), then the intruder's `change`, parked
   * behind it, then the press let go: the press commits first, whatever the change does.
   */
  async function changeDuringPress(
    who: { owner: Agent; userId: string },
    change: () => Promise<{ status: number; headers: Record<string, string> }>,
  ) {
    const blocker = new pg.Client({ connectionString: running.app.databaseUrl });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM user_sessions WHERE user_id = $1 FOR UPDATE', [who.userId]);
      const press = pressSignOutEverywhere(who.owner).then((response) => response);
      await untilWaitingOnLock(blocker, 'the press waits on the sessions it ends');
      const answer = change();
      await untilWaitingOnLock(blocker, 'the change waits on the press', 2);
      await blocker.query('COMMIT');
      assert.equal((await press).status, 303);
      return await answer;
    } finally {
      await blocker.end();
    }
  }

  const toSignIn = (path: string) => `/login?next=${encodeURIComponent(path)}`;

  it('refuses a password change whose hash was running when the press committed', async () => {
    const who = await ownerAndIntruder();
    const page = await who.intruder.get('/account/password').expect(200);
    const answer = await changeDuringPress(who, async () =>
      who.intruder
        .post('/account/password')
        .type('form')
        .send({
          _csrf: csrfTokenIn(page.text),
          currentPassword: strongPassword,
          password: 'an intruder took this one over',
          passwordConfirmation: 'an intruder took this one over',
        }),
    );
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.location, toSignIn('/account/password'), 'answered as a signed-out session');
    assert.equal(await isSignedIn(who.intruder), false, 'the intruder stays signed out');
    assert.equal(await prisma().auditEvent.count({ where: { userId: who.userId, type: 'password_changed' } }), 0);
    assert.equal(
      (await signIn(running.app.agent(), who.email, strongPassword)).headers.location,
      '/account',
      'the owner signs in with their own password',
    );
  });

  it('issues no change-of-email link asked for while the press ran', async () => {
    const who = await ownerAndIntruder();
    await confirmPassword(who.intruder);
    const page = await who.intruder.get('/account/email').expect(200);
    const answer = await changeDuringPress(who, async () =>
      who.intruder
        .post('/account/email')
        .type('form')
        .send({ _csrf: csrfTokenIn(page.text), email: uniqueEmail('intruder') }),
    );
    assert.equal(answer.headers.location, toSignIn('/account/email'), 'answered as a signed-out session');
    assert.equal(
      await prisma().emailToken.count({ where: { userId: who.userId, purpose: 'change_email', usedAt: null } }),
      0,
      'no live change-of-email link',
    );
    assert.equal(await prisma().auditEvent.count({ where: { userId: who.userId, type: 'email_change_requested' } }), 0);
  });

  it('sends no verification link asked for again while the press ran', async () => {
    const who = await ownerAndIntruder();
    const account = await who.intruder.get('/account').expect(200);
    const answer = await changeDuringPress(who, async () =>
      who.intruder
        .post('/account/email/verify')
        .type('form')
        .send({ _csrf: csrfTokenIn(account.text) }),
    );
    assert.equal(answer.headers.location, toSignIn('/account/email/verify'), 'answered as a signed-out session');
    // The sign-up's own link was the only one.
    assert.equal(
      await prisma().auditEvent.count({ where: { userId: who.userId, type: 'email_verification_sent' } }),
      1,
    );
  });

  it('does not turn 2FA off when asked while the press ran', async () => {
    const who = await ownerAndIntruder();
    // A second factor added once both are signed in (the intruder's session is a full one).
    await prisma().userFactor.create({ data: { userId: who.userId, kind: 'phone', phoneNumber: '+33612349876' } });
    await confirmPassword(who.intruder);
    const page = await who.intruder.get('/account/2fa/disable').expect(200);
    const answer = await changeDuringPress(who, async () =>
      who.intruder
        .post('/account/2fa/disable')
        .type('form')
        .send({ _csrf: csrfTokenIn(page.text) }),
    );
    assert.equal(answer.headers.location, toSignIn('/account/2fa/disable'), 'answered as a signed-out session');
    assert.equal(await prisma().userFactor.count({ where: { userId: who.userId } }), 1, '2FA is still on');
  });

  it('does not delete the account when asked while the press ran', async () => {
    const who = await ownerAndIntruder();
    await confirmPassword(who.intruder);
    const page = await who.intruder.get('/account/delete').expect(200);
    const answer = await changeDuringPress(who, async () =>
      who.intruder
        .post('/account/delete')
        .type('form')
        .send({ _csrf: csrfTokenIn(page.text), confirmation: who.email }),
    );
    assert.equal(answer.headers.location, toSignIn('/account/delete'), 'answered as a signed-out session');
    assert.equal(await prisma().user.count({ where: { id: who.userId } }), 1, 'the account is still there');
  });
});
