// Passkeys as a second factor over real HTTP, with a software authenticator (./authenticator.ts):
// adding one behind the password confirmation (the first turns 2FA on and shows recovery codes),
// listing and removing them, signing in with one, and what is refused: another origin or RP ID,
// a replayed or used-up challenge, a counter going backwards, a passkey of someone else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appForTests,
  confirmPassword,
  csrfTokenIn,
  isSignedIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
} from '../support/app.js';
import { personWithApp, roomInStep } from '../totp/support.js';
import { optionsIn, SoftAuthenticator } from './authenticator.js';
import { addPasskey, personWithPasskey as personWithOwnPasskey } from './support.js';

describe('passkeys as a second factor', () => {
  const running = appForTests();
  const app = () => running.app;
  const prisma = () => running.app.services.database.prisma;

  const personWithPasskey = (name?: string) => personWithOwnPasskey(app(), name);

  /** A new sign-in of `email` up to the passkey step: the agent and the step's page. */
  async function passwordStep(email: string) {
    const agent = app().agent();
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/login/2fa');
    const page = await agent.get('/login/2fa').expect(200);
    return { agent, page: page.text };
  }

  const answerStep = (agent: Agent, page: string, credential: string) =>
    agent
      .post('/login/2fa')
      .type('form')
      .send({ _csrf: csrfTokenIn(page), credential });

  it('keeps only the transports WebAuthn names, whatever the browser sends', async () => {
    const agent = app().agent();
    const { email } = await signUp(agent);
    await confirmPassword(agent);
    const page = await agent.get('/account/passkeys/new').expect(200);
    const credential = JSON.parse(new SoftAuthenticator().register(optionsIn(page.text))) as {
      response: { transports?: unknown };
    };
    credential.response.transports = ['internal', '<script>x</script>', 'usb', 'x'.repeat(400)];
    const added = await agent
      .post('/account/passkeys/new')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text), name: 'Laptop', credential: JSON.stringify(credential) });
    assert.equal(added.status, 303, added.text);
    const stored = await prisma().passkeyCredential.findFirstOrThrow({ where: { factor: { user: { email } } } });
    assert.deepEqual(stored.transports, ['internal', 'usb']);
  });

  it('one credential registered by several accounts at once goes to one of them; the others get 409, never a 500', async () => {
    const authenticator = new SoftAuthenticator();
    const agents = [app().agent(), app().agent(), app().agent()];
    const pages = await Promise.all(
      agents.map(async (agent) => {
        await signUp(agent);
        await confirmPassword(agent);
        return (await agent.get('/account/passkeys/new').expect(200)).text;
      }),
    );
    const answers = await Promise.all(
      agents.map((agent, index) =>
        agent
          .post('/account/passkeys/new')
          .type('form')
          .send({
            _csrf: csrfTokenIn(pages[index]!),
            name: 'Shared',
            credential: authenticator.register(optionsIn(pages[index]!)),
          }),
      ),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [303, 409, 409]);
    assert.equal(await prisma().passkeyCredential.count({ where: { credentialId: authenticator.id } }), 1);
  });

  it('refuses invisible and direction-changing characters in a passkey name', async () => {
    const agent = app().agent();
    await signUp(agent);
    for (const name of ['\u200b\u200b', 'abc\u202egpj.exe', 'a\u009bb']) {
      const refused = await addPasskey(agent, new SoftAuthenticator(), name);
      assert.equal(refused.status, 422, JSON.stringify(name));
    }
  });

  it('offers "Add a passkey" on /account, behind the password confirmation, saying it needs JavaScript', async () => {
    const agent = app().agent();
    await signUp(agent);
    const account = await agent.get('/account').expect(200);
    assert.match(
      account.text,
      /<a class="button button--secondary" href="\/account\/passkeys\/new">Add a passkey<\/a>/,
    );
    const unconfirmed = await agent.get('/account/passkeys/new').expect(303);
    assert.match(unconfirmed.headers.location!, /^\/account\/confirm-password\?next=%2Faccount%2Fpasskeys%2Fnew/);
    await confirmPassword(agent);
    const page = await agent.get('/account/passkeys/new').expect(200);
    assert.match(page.text, /<label for="name">Passkey name<\/label>/);
    assert.match(page.text, /<noscript>[\s\S]*Passkeys need JavaScript[\s\S]*authenticator app or a phone instead/);
    assert.match(
      page.text,
      /<script src="\/vendor\/simplewebauthn\/index\.umd\.min\.[0-9a-f]{10}\.js" defer><\/script>/,
    );
    assert.match(page.text, /<script src="\/js\/passkeys\.[0-9a-f]{10}\.js" defer><\/script>/);
    assert.doesNotMatch(page.text, /<script>/, 'no inline script');
    const options = optionsIn(page.text) as unknown as {
      rp: { id: string };
      authenticatorSelection: { residentKey: string; userVerification: string };
      attestation: string;
    };
    assert.equal(options.rp.id, 'localhost');
    assert.equal(options.authenticatorSelection.residentKey, 'preferred');
    assert.equal(options.authenticatorSelection.userVerification, 'preferred');
    assert.equal(options.attestation, 'none');
    // The browser package is served from node_modules.
    const script = /src="(\/vendor\/simplewebauthn\/[^"]+)"/.exec(page.text)![1]!;
    const served = await agent.get(script).expect(200);
    assert.match(served.text, /SimpleWebAuthnBrowser/);
  });

  it('adds a passkey: the first turns two-factor authentication on and shows recovery codes', async () => {
    const agent = app().agent();
    const person = await signUp(agent);
    const authenticator = new SoftAuthenticator();
    const added = await addPasskey(agent, authenticator, 'Work laptop');
    assert.equal(added.status, 303, added.text);
    assert.equal(added.headers.location, '/account/recovery-codes');
    const row = await prisma().passkeyCredential.findUniqueOrThrow({ where: { credentialId: authenticator.id } });
    assert.equal(row.name, 'Work laptop');
    assert.deepEqual(row.transports, ['internal']);
    assert.equal(row.counter, 0n);
    assert.equal(row.lastUsedAt, null);
    const user = await prisma().user.findUniqueOrThrow({ where: { email: person.email } });
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'two_factor_enabled' },
    });
    assert.equal((event.detail as { kind?: string }).kind, 'passkey');
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /Two-factor authentication: On/);
    assert.match(account.text, /<strong>Work laptop<\/strong>, added <time[^>]*>[^<]+<\/time>,\s*never used yet\./);
    assert.match(account.text, /Remove<span class="visually-hidden"> the passkey Work laptop<\/span>/);
  });

  it('refuses a passkey name that is empty or too long, and a registration from another origin or for another RP ID', async () => {
    const agent = app().agent();
    await signUp(agent);
    const empty = await addPasskey(agent, new SoftAuthenticator(), '   ');
    assert.equal(empty.status, 422);
    assert.match(empty.text, /Enter a name for the passkey/);
    const long = await addPasskey(agent, new SoftAuthenticator(), 'x'.repeat(65));
    assert.equal(long.status, 422);
    const elsewhere = await addPasskey(agent, new SoftAuthenticator(), 'Phish', { origin: 'https://evil.example' });
    assert.equal(elsewhere.status, 422);
    assert.match(elsewhere.text, /could not be verified/);
    const otherRp = await addPasskey(agent, new SoftAuthenticator(), 'Other', { rpId: 'evil.example' });
    assert.equal(otherRp.status, 422);
    const none = await agent
      .post('/account/passkeys/new')
      .type('form')
      .send({
        _csrf: csrfTokenIn((await agent.get('/account/passkeys/new').expect(200)).text),
        name: 'No JS',
        credential: '',
      });
    assert.equal(none.status, 422);
    assert.match(none.text, /Passkeys need JavaScript/);
    assert.equal(await prisma().passkeyCredential.count({ where: { name: { in: ['Phish', 'Other', 'No JS'] } } }), 0);
  });

  it('uses a registration challenge once: the same answer again adds nothing', async () => {
    const agent = app().agent();
    await signUp(agent);
    await confirmPassword(agent);
    const page = await agent.get('/account/passkeys/new').expect(200);
    const authenticator = new SoftAuthenticator();
    const credential = authenticator.register(optionsIn(page.text));
    const send = () =>
      agent
        .post('/account/passkeys/new')
        .type('form')
        .send({ _csrf: csrfTokenIn(page.text), name: 'Once', credential });
    assert.equal((await send()).status, 303);
    const again = await send();
    assert.equal(again.status, 410);
    assert.equal(await prisma().passkeyCredential.count({ where: { credentialId: authenticator.id } }), 1);
  });

  it('signs in with the password and a passkey, updating its counter and last use', async () => {
    const person = await personWithPasskey();
    const { agent, page } = await passwordStep(person.email);
    assert.match(page, /<h1>Use your passkey<\/h1>/);
    assert.match(page, /<button type="submit" class="button">Use a passkey<\/button>/);
    assert.match(page, /<noscript>[\s\S]*Passkeys need JavaScript/);
    const options = optionsIn(page);
    assert.deepEqual(
      options.allowCredentials?.map((one) => one.id),
      [person.authenticator.id],
    );
    person.authenticator.counter = 7;
    const done = await answerStep(agent, page, person.authenticator.authenticate(options));
    assert.equal(done.status, 303, done.text);
    assert.ok(await isSignedIn(agent));
    const row = await prisma().passkeyCredential.findUniqueOrThrow({
      where: { credentialId: person.authenticator.id },
    });
    assert.equal(row.counter, 7n);
    assert.ok(row.lastUsedAt);
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /last used <time/);
    const signInEvent = await prisma().auditEvent.findFirstOrThrow({
      where: { type: 'sign_in', outcome: 'ok', user: { email: person.email } },
      orderBy: { at: 'desc' },
    });
    assert.equal((signInEvent.detail as { method?: string }).method, 'password_and_passkey');
  });

  it('refuses an answer from another origin, then one to the challenge it spent; a new answer works', async () => {
    const person = await personWithPasskey();
    const { agent, page } = await passwordStep(person.email);
    const options = optionsIn(page);
    const phished = await answerStep(
      agent,
      page,
      person.authenticator.authenticate(options, { origin: 'http://evil.localhost:3000' }),
    );
    assert.equal(phished.status, 422);
    assert.match(phished.text, /could not be verified/);
    assert.equal(await isSignedIn(agent), false);
    // The page shown again carries a new challenge; the old one is spent.
    const next = optionsIn(phished.text);
    assert.notEqual(next.challenge, options.challenge);
    const replayed = await answerStep(agent, phished.text, person.authenticator.authenticate(options));
    assert.equal(replayed.status, 422);
    assert.equal(await isSignedIn(agent), false);
    const wrongRp = await answerStep(
      agent,
      page,
      person.authenticator.authenticate(optionsIn((await agent.get('/login/2fa')).text), { rpId: 'evil.localhost' }),
    );
    assert.equal(wrongRp.status, 422);
    const fresh = optionsIn((await agent.get('/login/2fa').expect(200)).text);
    const done = await answerStep(agent, page, person.authenticator.authenticate(fresh));
    assert.equal(done.status, 303);
    assert.ok(await isSignedIn(agent));
    const wrong = await prisma().auditEvent.count({
      where: { type: 'code_checked', outcome: 'wrong_code', user: { email: person.email } },
    });
    assert.equal(wrong, 3, 'each refused answer is a failed attempt in the audit trail');
  });

  it('refuses a replayed answer: in another sign-in, and twice at once in the same one', async () => {
    const person = await personWithPasskey();
    const first = await passwordStep(person.email);
    const answer = person.authenticator.authenticate(optionsIn(first.page));
    // Sent twice at once: one signs in, the other is refused.
    const both = await Promise.all([
      answerStep(first.agent, first.page, answer),
      answerStep(first.agent, first.page, answer),
    ]);
    assert.deepEqual(
      both.map((response) => response.status).sort(),
      [303, 409].sort((a, b) => a - b),
    );
    // The same answer in a later sign-in: its challenge is not this sign-in's.
    const second = await passwordStep(person.email);
    const replayed = await answerStep(second.agent, second.page, answer);
    assert.equal(replayed.status, 422);
    assert.equal(await isSignedIn(second.agent), false);
  });

  it('refuses a signature counter going backwards, and audits it', async () => {
    const person = await personWithPasskey();
    const first = await passwordStep(person.email);
    person.authenticator.counter = 10;
    assert.equal(
      (await answerStep(first.agent, first.page, person.authenticator.authenticate(optionsIn(first.page)))).status,
      303,
    );
    const second = await passwordStep(person.email);
    const copied = await answerStep(
      second.agent,
      second.page,
      person.authenticator.authenticate(optionsIn(second.page), { counter: 9 }),
    );
    assert.equal(copied.status, 422);
    assert.match(copied.text, /may have been copied/);
    assert.equal(await isSignedIn(second.agent), false);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { type: 'passkey_counter_regressed', user: { email: person.email } },
    });
    assert.deepEqual(
      {
        stored: (event.detail as { stored: number }).stored,
        presented: (event.detail as { presented: number }).presented,
      },
      { stored: 10, presented: 9 },
    );
    const row = await prisma().passkeyCredential.findUniqueOrThrow({
      where: { credentialId: person.authenticator.id },
    });
    assert.equal(row.counter, 10n, 'the stored counter stays');

    // Admins are told on the overview, and find the account in the audit trail.
    const admin = await signUp(app().agent());
    await prisma().user.update({ where: { email: admin.email }, data: { role: 'ADMIN' } });
    const adminAgent = app().agent();
    assert.equal((await signIn(adminAgent, admin.email, strongPassword)).status, 303);
    const overview = await adminAgent.get('/admin').expect(200);
    assert.match(overview.text, /counter going backwards in the last 30 days<\/dt><dd>[1-9]/);
    assert.match(overview.text, /the passkey may have been copied/);
    const trail = await adminAgent.get('/admin/audit?type=passkey_counter_regressed').expect(200);
    assert.ok(trail.text.includes(person.email), 'the audit trail names the account');
  });

  it("refuses someone else's passkey", async () => {
    const person = await personWithPasskey();
    const other = await personWithPasskey();
    const { agent, page } = await passwordStep(person.email);
    const refused = await answerStep(agent, page, other.authenticator.authenticate(optionsIn(page)));
    assert.equal(refused.status, 422);
    assert.match(refused.text, /not one of the passkeys of this account/);
  });

  it("refuses an answer whose user handle is someone else's, and takes one without a handle", async () => {
    const person = await personWithPasskey();
    const other = await personWithPasskey();
    const { agent, page } = await passwordStep(person.email);
    const refused = await answerStep(
      agent,
      page,
      person.authenticator.authenticate(optionsIn(page), { userHandle: other.authenticator.userHandle! }),
    );
    assert.equal(refused.status, 422);
    assert.match(refused.text, /could not be verified/);
    assert.equal(await isSignedIn(agent), false);
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { type: 'code_checked', outcome: 'wrong_code', user: { email: person.email } },
    });
    assert.equal((event.detail as { problem?: string }).problem, 'user_handle');
    // A passkey that is not discoverable answers without a handle: that is no reason to refuse.
    const fresh = optionsIn((await agent.get('/login/2fa').expect(200)).text);
    const done = await answerStep(agent, page, person.authenticator.authenticate(fresh, { userHandle: null }));
    assert.equal(done.status, 303, done.text);
  });

  it('counts refused answers in the shared wrong-code limit', async () => {
    const person = await personWithPasskey();
    const { agent, page } = await passwordStep(person.email);
    const phished = (current: string) =>
      answerStep(
        agent,
        current,
        person.authenticator.authenticate(optionsIn(current), { origin: 'https://evil.example' }),
      );
    // LIMIT_WRONG_CODES_PER_USER (10) refused answers, then the step locks.
    let last = await phished(page);
    for (let attempt = 1; attempt < 11 && last.status !== 429; attempt += 1) last = await phished(last.text);
    assert.equal(last.status, 429);
    assert.ok(last.headers['retry-after']);
    assert.match(last.text, /Too many wrong codes|too many/i);
  });

  it('offers "Use a passkey" among the other ways, and then offers it first', async () => {
    const agent = app().agent();
    await roomInStep();
    const person = await personWithApp(agent);
    const authenticator = new SoftAuthenticator();
    assert.equal((await addPasskey(agent, authenticator)).status, 303);
    // The app came first and was used last: the step asks for its code, with another way.
    const step = await passwordStep(person.email);
    assert.match(step.page, /Enter the 6-digit code from your authenticator app/);
    const choose = await step.agent.get('/login/2fa/choose').expect(200);
    assert.match(choose.text, /<button type="submit" class="button button--secondary">Use a passkey<\/button>/);
    const factor = await prisma().userFactor.findFirstOrThrow({
      where: { kind: 'passkey', user: { email: person.email } },
    });
    const chosen = await submitForm(step.agent, '/login/2fa/choose', '/login/2fa/choose', { factor: factor.id });
    assert.equal(chosen.status, 303);
    const page = (await step.agent.get('/login/2fa').expect(200)).text;
    assert.match(page, /<h1>Use your passkey<\/h1>/);
    assert.match(page, /<a href="\/login\/2fa\/choose">Use another way<\/a>/);
    assert.equal((await answerStep(step.agent, page, authenticator.authenticate(optionsIn(page)))).status, 303);
    assert.ok(await isSignedIn(step.agent));
    // Used last: the next sign-in asks for the passkey straight away.
    const next = await passwordStep(person.email);
    assert.match(next.page, /<h1>Use your passkey<\/h1>/);
  });

  it('lists several passkeys, and removes them one by one with the password; the last turns 2FA off', async () => {
    const person = await personWithPasskey('Laptop');
    const phone = new SoftAuthenticator();
    const added = await addPasskey(person.agent, phone, 'Phone');
    assert.equal(added.status, 303);
    assert.equal(added.headers.location, '/account');
    const account = await person.agent.get('/account').expect(200);
    assert.match(account.text, /<strong>Laptop<\/strong>[\s\S]*<strong>Phone<\/strong>/);
    const rows = await prisma().passkeyCredential.findMany({
      where: { factor: { user: { email: person.email } } },
      orderBy: { createdAt: 'asc' },
    });
    assert.equal(rows.length, 2);
    assert.equal(new Set(rows.map((row) => row.factorId)).size, 1, 'one factor for all of them');

    const removeFirst = `/account/passkeys/${rows[0]!.id}/remove`;
    const confirm = await person.agent.get(removeFirst).expect(200);
    assert.match(confirm.text, /Remove the passkey “Laptop”/);
    assert.match(confirm.text, /Your other ways to confirm it is you stay on/);
    const removed = await submitForm(person.agent, removeFirst, removeFirst, {});
    assert.equal(removed.status, 303);
    assert.match((await person.agent.get('/account').expect(200)).text, /Two-factor authentication: On/);

    const removeLast = `/account/passkeys/${rows[1]!.id}/remove`;
    assert.match(
      (await person.agent.get(removeLast).expect(200)).text,
      /removing it turns two-factor authentication off/,
    );
    assert.equal((await submitForm(person.agent, removeLast, removeLast, {})).status, 303);
    const after = await person.agent.get('/account').expect(200);
    assert.match(after.text, /Two-factor authentication: Off/);
    assert.equal(await prisma().userFactor.count({ where: { user: { email: person.email } } }), 0);
    const user = await prisma().user.findUniqueOrThrow({ where: { email: person.email } });
    const types = (
      await prisma().auditEvent.findMany({
        where: { userId: user.id, type: { in: ['factor_removed', 'two_factor_disabled'] } },
        orderBy: { at: 'asc' },
      })
    ).map((event) => event.type);
    assert.deepEqual(types, ['factor_removed', 'two_factor_disabled']);
  });

  it("does not remove someone else's passkey, nor without a recent password", async () => {
    const person = await personWithPasskey();
    const other = await personWithPasskey();
    const row = await prisma().passkeyCredential.findUniqueOrThrow({ where: { credentialId: other.authenticator.id } });
    const path = `/account/passkeys/${row.id}/remove`;
    assert.equal((await person.agent.get(path)).headers.location, '/account');
    const form = await person.agent.get('/account').expect(200);
    const forged = await person.agent
      .post(path)
      .type('form')
      .send({ _csrf: csrfTokenIn(form.text) });
    assert.equal(forged.headers.location, '/account');
    // The owner, signed in again (password and passkey), without a password confirmation since.
    const { agent, page } = await passwordStep(other.email);
    assert.equal((await answerStep(agent, page, other.authenticator.authenticate(optionsIn(page)))).status, 303);
    const account = await agent.get('/account').expect(200);
    const unconfirmed = await agent
      .post(path)
      .type('form')
      .send({ _csrf: csrfTokenIn(account.text) });
    assert.equal(unconfirmed.status, 303);
    assert.match(unconfirmed.headers.location!, /^\/account\/confirm-password/);
    assert.equal(await prisma().passkeyCredential.count({ where: { id: row.id } }), 1);
  });

  it('proves it is the person before deleting the account, once per challenge, and says when no answer came', async () => {
    const person = await personWithPasskey();
    const deletePage = async () => {
      const page = await person.agent.get('/account/delete').expect(200);
      const factor = /data-passkey-factor="([0-9a-f-]+)"/.exec(page.text)?.[1];
      assert.ok(factor, 'the page offers the passkey');
      assert.match(page.text, /One of your passkeys/);
      return { page: page.text, factor };
    };
    const post = (page: string, fields: Record<string, string>) =>
      person.agent
        .post('/account/delete')
        .type('form')
        .send({ _csrf: csrfTokenIn(page), code: '', ...fields });
    const stillThere = async () => (await prisma().user.count({ where: { email: person.email } })) === 1;

    // Without JavaScript no answer comes: the page says why.
    const first = await deletePage();
    const none = await post(first.page, { confirmation: person.email, factor: first.factor, credential: '' });
    assert.equal(none.status, 422);
    assert.match(none.text, /did not use a passkey/);
    assert.ok(await stillThere());

    // An answer sent with a mistyped confirmation deletes nothing, and cannot be sent again.
    const second = await deletePage();
    const answer = person.authenticator.authenticate(optionsIn(second.page));
    const mistyped = await post(second.page, {
      confirmation: 'someone@example.com',
      factor: second.factor,
      credential: answer,
    });
    assert.equal(mistyped.status, 422);
    const replayed = await post(second.page, { confirmation: person.email, factor: second.factor, credential: answer });
    assert.equal(replayed.status, 422);
    assert.ok(await stillThere(), 'a replayed answer deletes nothing');

    const third = await deletePage();
    const deleted = await post(third.page, {
      confirmation: person.email,
      factor: third.factor,
      credential: person.authenticator.authenticate(optionsIn(third.page)),
    });
    assert.equal(deleted.status, 303, deleted.text.slice(0, 300));
    assert.equal(deleted.headers.location, '/account/deleted');
    assert.equal(await stillThere(), false);
  });
});
