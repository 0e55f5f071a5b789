// Deleting one's own account over real HTTP: behind the password (sudo mode) and, with 2FA on,
// a current code from one of the person's factors (a wrong one deletes nothing); the account,
// its factors, sessions and API tokens go; the audit trail keeps the events under a pseudonym,
// without the email; the last active admin cannot delete their account, even two at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import {
  appForTests,
  confirmPassword,
  csrfTokenIn,
  isSignedIn,
  signIn,
  signUp,
  strongPassword,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { appOnTwilio, personWithTwoFactor } from '../support/twilio.js';
import { codeFor, personWithApp, roomInStep } from '../totp/support.js';

/** Posts the delete-account form with its CSRF token. */
async function postDelete(agent: Agent, fields: Record<string, string>) {
  const page = await agent.get('/account/delete').expect(200);
  return agent
    .post('/account/delete')
    .type('form')
    .send({ ...fields, _csrf: csrfTokenIn(page.text) });
}

async function makeAdmin(app: TestApp, email: string) {
  await app.services.database.prisma.user.update({ where: { email }, data: { role: 'ADMIN' } });
}

describe('Delete account', () => {
  const running = appForTests();
  const prisma = () => running.app.services.database.prisma;

  it('is behind a recent password confirmation, linked from /account, with a "Delete account" button', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /<a href="\/account\/delete">Delete account<\/a>/);
    const page = await agent.get('/account/delete').expect(303);
    assert.match(page.headers.location ?? '', /^\/account\/confirm-password\?next=%2Faccount%2Fdelete/);
    await confirmPassword(agent);
    const form = await agent.get('/account/delete').expect(200);
    assert.match(form.text, /<button type="submit" class="button button--danger">Delete account<\/button>/);
    assert.match(form.text, /cannot be undone/);
  });

  it('deletes the account, ends its other sessions and API tokens, and keeps its events under a pseudonym', async () => {
    const laptop = running.app.agent();
    const { email } = await signUp(laptop);
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    const phone = running.app.agent();
    assert.equal((await signIn(phone, email, strongPassword)).status, 303);
    const tokens = (
      await request(running.app.url)
        .post('/api/auth/token')
        .send({ grant_type: 'password', email, password: strongPassword })
        .expect(200)
    ).body as { access_token: string; refresh_token: string };
    // An event of someone else that names the account (an admin's action on it), and one whose detail holds the email.
    await prisma().auditEvent.create({
      data: { type: 'admin_action', outcome: 'ok', detail: { action: 'lock', target: user.id } },
    });
    await prisma().auditEvent.create({
      data: { type: 'sign_in', outcome: 'ok', userId: user.id, detail: { note: `from ${email.toUpperCase()}` } },
    });

    await confirmPassword(laptop);
    const mistyped = await postDelete(laptop, { confirmation: 'someone@example.com' });
    assert.equal(mistyped.status, 422);
    assert.match(mistyped.text, /Type the email address of your account/);
    assert.ok(await prisma().user.findUnique({ where: { id: user.id } }), 'nothing deleted');

    const deleted = await postDelete(laptop, { confirmation: email });
    assert.equal(deleted.status, 303);
    assert.equal(deleted.headers.location, '/account/deleted');
    const confirmation = await laptop.get('/account/deleted').expect(200);
    assert.match(confirmation.text, /Your account is deleted/);

    assert.equal(await prisma().user.findUnique({ where: { id: user.id } }), null);
    assert.equal(await isSignedIn(laptop), false);
    assert.equal(await isSignedIn(phone), false, 'the other session is dead');
    assert.equal(await prisma().userSession.count({ where: { userId: user.id } }), 0);
    await request(running.app.url)
      .get('/api/auth/protected')
      .set('Authorization', `Bearer ${tokens.access_token}`)
      .expect(401);
    const refreshed = await request(running.app.url)
      .post('/api/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(refreshed.status, 400);

    // The events stay, under one pseudonym, and name neither the account nor its email.
    assert.equal(await prisma().auditEvent.count({ where: { userId: user.id } }), 0);
    const kept = await prisma().auditEvent.findMany({ where: { userPseudonym: { not: null } } });
    const pseudonyms = new Set(kept.map((event) => event.userPseudonym));
    const pseudonym = (
      await prisma().auditEvent.findFirstOrThrow({ where: { type: 'account_deleted', outcome: 'ok' } })
    ).userPseudonym!;
    assert.match(pseudonym, /^deleted:[A-Za-z0-9_-]{22}$/);
    const ofAccount = kept.filter((event) => event.userPseudonym === pseudonym);
    assert.ok(ofAccount.some((event) => event.type === 'sign_up'));
    assert.ok(ofAccount.some((event) => event.type === 'sign_in'));
    assert.ok(pseudonyms.size >= 1);
    const everything = JSON.stringify(
      await prisma().auditEvent.findMany({ select: { detail: true, userPseudonym: true, userId: true } }),
    ).toLowerCase();
    assert.ok(!everything.includes(user.id), 'no event names the account id');
    assert.ok(!everything.includes(email.toLowerCase()), 'no event holds the email');
    const action = await prisma().auditEvent.findFirstOrThrow({ where: { type: 'admin_action' } });
    assert.deepEqual(action.detail, { action: 'lock', target: pseudonym });
  });

  it('asks a person with an authenticator app for a code: a wrong one deletes nothing, a recovery code does', async () => {
    const agent = running.app.agent();
    const { email, key } = await personWithApp(agent);
    const shown = await agent.get('/account/recovery-codes').expect(200);
    const recoveryCode = /<li><code>([^<]+)<\/code><\/li>/.exec(shown.text)![1]!;
    const user = await prisma().user.findUniqueOrThrow({ where: { email }, include: { factors: true } });
    const app = user.factors.find((factor) => factor.kind === 'totp')!;
    const set = user.factors.find((factor) => factor.kind === 'recovery_codes')!;

    await confirmPassword(agent);
    const page = await agent.get('/account/delete').expect(200);
    assert.match(page.text, /A code from your authenticator app/);
    assert.match(page.text, /One of your recovery codes/);

    const missing = await postDelete(agent, { confirmation: email, factor: app.id, code: '' });
    assert.equal(missing.status, 422);
    const step = await roomInStep();
    const wrong = codeFor(key, step + 5);
    const refused = await postDelete(agent, { confirmation: email, factor: app.id, code: wrong });
    assert.equal(refused.status, 422);
    assert.ok(await prisma().user.findUnique({ where: { id: user.id } }), 'a wrong code deletes nothing');
    assert.equal(await prisma().userFactor.count({ where: { userId: user.id } }), 2);
    assert.ok(
      await prisma().auditEvent.findFirst({
        where: { userId: user.id, type: 'code_checked', detail: { path: ['purpose'], equals: 'reauthentication' } },
      }),
      'the wrong code is audited as a re-authentication',
    );
    // Someone else's factor is not a way.
    const other = await postDelete(agent, {
      confirmation: email,
      factor: '00000000-0000-4000-8000-000000000000',
      code: '123456',
    });
    assert.equal(other.status, 422);
    // An app has no code to send: asking for one sends nothing and says so.
    const deletePage = await agent.get('/account/delete').expect(200);
    const noSend = await agent
      .post('/account/delete/send')
      .type('form')
      .send({ _csrf: csrfTokenIn(deletePage.text), factor: app.id, via: 'sms' });
    assert.equal(noSend.status, 422);
    assert.doesNotMatch(noSend.text, /We sent you a code/);

    const deleted = await postDelete(agent, { confirmation: email, factor: set.id, code: recoveryCode });
    assert.equal(deleted.status, 303);
    assert.equal(await prisma().user.findUnique({ where: { id: user.id } }), null);
    assert.equal(await prisma().userFactor.count({ where: { userId: user.id } }), 0);
  });

  describe('the last admin', () => {
    it('cannot delete their account; with another admin they can', async () => {
      const agent = running.app.agent();
      const { email } = await signUp(agent);
      await makeAdmin(running.app, email);
      // Other tests' admins would count: lock them out of the count.
      await prisma().user.updateMany({ where: { role: 'ADMIN', NOT: { email } }, data: { role: 'USER' } });
      await confirmPassword(agent);
      const refused = await postDelete(agent, { confirmation: email });
      assert.equal(refused.status, 409);
      assert.match(refused.text, /only administrator/);
      assert.ok(await prisma().user.findUnique({ where: { email } }));

      const colleague = running.app.agent();
      const second = await signUp(colleague);
      await makeAdmin(running.app, second.email);
      assert.equal((await postDelete(agent, { confirmation: email })).status, 303);
      assert.equal(await prisma().user.findUnique({ where: { email } }), null);
      await prisma().user.update({ where: { email: second.email }, data: { role: 'USER' } });
    });

    it('two last admins deleting at once: exactly one succeeds', async () => {
      for (let round = 0; round < 5; round += 1) {
        await prisma().user.updateMany({ where: { role: 'ADMIN' }, data: { role: 'USER' } });
        const admins = await Promise.all(
          [0, 1].map(async () => {
            const agent = running.app.agent();
            const { email } = await signUp(agent);
            await makeAdmin(running.app, email);
            await confirmPassword(agent);
            const page = await agent.get('/account/delete').expect(200);
            return { agent, email, token: csrfTokenIn(page.text) };
          }),
        );
        const answers = await Promise.all(
          admins.map(({ agent, email, token }) =>
            agent.post('/account/delete').type('form').send({ confirmation: email, _csrf: token }),
          ),
        );
        const statuses = answers.map((answer) => answer.status).sort();
        assert.deepEqual(statuses, [303, 409], `round ${round}`);
        assert.equal(await prisma().user.count({ where: { role: 'ADMIN', lockedAt: null } }), 1);
      }
    });
  });
});

describe('Delete account with a phone', () => {
  const twilio = appOnTwilio();
  const prisma = () => twilio.app.services.database.prisma;

  it('sends a code on request (within the resend cooldown); a wrong one deletes nothing, the right one deletes', async () => {
    const person = await personWithTwoFactor(twilio, '+33612990077');
    const user = await prisma().user.findUniqueOrThrow({ where: { email: person.email }, include: { factors: true } });
    const phone = user.factors.find((factor) => factor.kind === 'phone')!;
    await confirmPassword(person.agent);
    const page = await person.agent.get('/account/delete').expect(200);
    assert.match(page.text, /Text me a code/);
    const sent = await person.agent
      .post('/account/delete/send')
      .type('form')
      .send({ factor: phone.id, via: 'sms', _csrf: csrfTokenIn(page.text) });
    // The code that turned 2FA on went out by text moments ago: the resend cooldown holds.
    assert.equal(sent.status, 429);
    assert.match(sent.text, /Please wait \d+ seconds before asking for another text message/);
    const called = await person.agent
      .post('/account/delete/send')
      .type('form')
      .send({ factor: phone.id, via: 'call', _csrf: csrfTokenIn(page.text) });
    assert.equal(called.status, 303);
    const code = twilio.standIn.lastCodeFor('+33612990077')!;
    const wrong = code === '000000' ? '111111' : '000000';

    const refused = await postDelete(person.agent, { confirmation: person.email, factor: phone.id, code: wrong });
    assert.equal(refused.status, 422);
    assert.match(refused.text, /That code is not right/);
    assert.ok(await prisma().user.findUnique({ where: { id: user.id } }), 'a wrong code deletes nothing');

    const deleted = await postDelete(person.agent, { confirmation: person.email, factor: phone.id, code });
    assert.equal(deleted.status, 303);
    assert.equal(await prisma().user.findUnique({ where: { id: user.id } }), null);
  });
});
