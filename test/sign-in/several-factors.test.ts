// A person with several factors signs in with the one they used last, and can choose another
// ("Use another way"); turning 2FA off removes them all. Phones are the only kind yet, so the
// second factor is a second phone, added as the data a later kind would leave.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { csrfTokenIn, signIn, strongPassword, submitForm, type Agent } from '../support/app.js';
import { appOnTwilio, personWithTwoFactor } from '../support/twilio.js';

let counter = 0;
function nextMobile(): string {
  counter += 1;
  return `+3361288${String(counter).padStart(4, '0')}`;
}

describe('signing in with several factors', () => {
  const twilio = appOnTwilio();
  const prisma = () => twilio.app.services.database.prisma;

  /** A person with two phones: the one enrolled through the pages, and a second one. */
  async function personWithTwoPhones() {
    const person = await personWithTwoFactor(twilio, nextMobile());
    const user = await prisma().user.findUniqueOrThrow({ where: { email: person.email } });
    const second = await prisma().userFactor.create({
      data: { userId: user.id, kind: 'phone', phoneNumber: nextMobile() },
    });
    return { ...person, userId: user.id, second };
  }

  async function passwordStep(email: string): Promise<Agent> {
    const agent = twilio.app.agent();
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.headers.location, '/login/2fa');
    return agent;
  }

  async function choose(agent: Agent, factor: string, via?: string) {
    const page = await agent.get('/login/2fa/choose').expect(200);
    return agent
      .post('/login/2fa/choose')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text), factor, ...(via ? { via } : {}) });
  }

  it('offers no other way to someone with one factor', async () => {
    const person = await personWithTwoFactor(twilio, nextMobile());
    const agent = await passwordStep(person.email);
    const page = await agent.get('/login/2fa').expect(200);
    assert.doesNotMatch(page.text, /Use another way/);
  });

  it('sends the code to the usual factor, lists the others under "Use another way", and signs in with the one chosen', async () => {
    const person = await personWithTwoPhones();
    const agent = await passwordStep(person.email);
    assert.equal(twilio.standIn.outbox.at(-1)?.to, person.phone, 'the first code goes to the phone enrolled first');
    const step = await agent.get('/login/2fa').expect(200);
    assert.match(step.text, /<a href="\/login\/2fa\/choose">Use another way<\/a>/);

    const choices = await agent.get('/login/2fa/choose').expect(200);
    const offered = [...choices.text.matchAll(/<button type="submit"[^>]*>([^<]+)<\/button>/g)].map(
      (match) => match[1],
    );
    assert.equal(offered.length, 3, `the other factor's two ways and Cancel: ${offered.join(' | ')}`);
    assert.match(offered[0]!, /^Text me a code at \+33\u00a0•\u00a0••\u00a0••\u00a0••\u00a0\d\d$/);
    assert.match(offered[1]!, /^Call me at \+33\u00a0•\u00a0••\u00a0••\u00a0••\u00a0\d\d$/);
    assert.match(choices.text, /<p>Codes to \+33\u00a0•[^<]*<span class="aside">\(what you are using now/);
    assert.match(choices.text, /\(what you are using now: <a href="\/login\/2fa">back to the code<\/a>\)/);

    const chosen = await choose(agent, person.second.id);
    assert.equal(chosen.status, 303);
    assert.equal(chosen.headers.location, '/login/2fa');
    assert.equal(twilio.standIn.outbox.at(-1)?.to, person.second.phoneNumber, 'a code went to the phone chosen');

    const done = await submitForm(agent, '/login/2fa', '/login/2fa', {
      code: twilio.standIn.lastCodeFor(person.second.phoneNumber!)!,
    });
    assert.equal(done.status, 303);
    await agent.get('/account').expect(200);
    const signInEvent = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: person.userId, type: 'sign_in' },
      orderBy: { id: 'desc' },
    });
    assert.deepEqual(signInEvent.detail, {
      method: 'password_and_code',
      browser: (signInEvent.detail as { browser?: unknown }).browser,
    });
    assert.match(String((signInEvent.detail as { browser?: unknown }).browser), /^[A-Za-z0-9_-]{22}$/);

    // Next time, the phone used last comes first.
    const again = await passwordStep(person.email);
    assert.equal(twilio.standIn.outbox.at(-1)?.to, person.second.phoneNumber);
    await again.get('/login/2fa').expect(200);
  });

  it('"Call me" among the ways calls the phone chosen, and its code signs in', async () => {
    const person = await personWithTwoPhones();
    const agent = await passwordStep(person.email);
    const chosen = await choose(agent, person.second.id, 'call');
    assert.equal(chosen.headers.location, '/login/2fa');
    const last = twilio.standIn.outbox.at(-1)!;
    assert.deepEqual([last.to, last.channel], [person.second.phoneNumber, 'call']);
    const done = await submitForm(agent, '/login/2fa', '/login/2fa', { code: last.code });
    assert.equal(done.status, 303);
  });

  it('sends anything but its own buttons back to the choices, changing nothing', async () => {
    const person = await personWithTwoPhones();
    const agent = await passwordStep(person.email);
    const sent = twilio.standIn.outbox.length;
    for (const fields of [
      { factor: 'not-a-factor' },
      { factor: person.second.id, via: 'fax' },
      { factor: randomUUID() },
    ]) {
      const page = await agent.get('/login/2fa/choose').expect(200);
      const refused = await agent
        .post('/login/2fa/choose')
        .type('form')
        .send({ _csrf: csrfTokenIn(page.text), ...fields });
      assert.equal(refused.status, 303, JSON.stringify(fields));
      assert.equal(refused.headers.location, '/login/2fa/choose');
    }
    assert.equal(twilio.standIn.outbox.length, sent, 'no code went out');
    const done = await submitForm(agent, '/login/2fa', '/login/2fa', {
      code: twilio.standIn.lastCodeFor(person.phone)!,
    });
    assert.equal(done.status, 303, 'the sign-in goes on with the way in use');
  });

  it('does not accept the code of the factor left behind once another was chosen', async () => {
    const person = await personWithTwoPhones();
    const agent = await passwordStep(person.email);
    const firstCode = twilio.standIn.lastCodeFor(person.phone)!;
    await choose(agent, person.second.id);
    const refused = await submitForm(agent, '/login/2fa', '/login/2fa', { code: firstCode });
    assert.notEqual(refused.status, 303);
    await agent.get('/account').expect(303);
  });

  it('keeps the code the person has when the way chosen cannot send one', async () => {
    const person = await personWithTwoPhones();
    const agent = await passwordStep(person.email);
    const firstCode = twilio.standIn.lastCodeFor(person.phone)!;
    twilio.standIn.faults.fraudBlockedPrefixes = [person.second.phoneNumber!];
    try {
      const refused = await choose(agent, person.second.id);
      assert.equal(refused.headers.location, '/login/2fa');
    } finally {
      twilio.standIn.resetFaults();
    }
    const page = await agent.get('/login/2fa').expect(200);
    assert.match(page.text, /No code was sent: text messages to this number are blocked/);
    const done = await submitForm(agent, '/login/2fa', '/login/2fa', { code: firstCode });
    assert.equal(done.status, 303, 'the code of the way still in use signs in');
    await agent.get('/account').expect(200);
  });

  it('switching ways is no way around the resend cooldown, and switching back finds the code already sent', async () => {
    const person = await personWithTwoPhones();
    const agent = await passwordStep(person.email);
    const firstCode = twilio.standIn.lastCodeFor(person.phone)!;
    const sentBefore = twilio.standIn.outbox.length;
    const factorA = (
      await prisma().userFactor.findFirstOrThrow({ where: { userId: person.userId, phoneNumber: person.phone } })
    ).id;
    for (const factor of [person.second.id, factorA, person.second.id, factorA]) {
      assert.equal((await choose(agent, factor)).headers.location, '/login/2fa');
    }
    assert.equal(
      twilio.standIn.outbox.length - sentBefore,
      1,
      'one code to the second phone, none again within the cooldown',
    );
    const page = await agent.get('/login/2fa').expect(200);
    assert.doesNotMatch(page.text, /Please wait/, 'going back to a way whose code is on its way says nothing alarming');
    const done = await submitForm(agent, '/login/2fa', '/login/2fa', { code: firstCode });
    assert.equal(done.status, 303, 'the first code still signs in after switching back');
  });

  it("refuses a factor that is not the person's own, sending nothing", async () => {
    const person = await personWithTwoPhones();
    const stranger = await personWithTwoPhones();
    const agent = await passwordStep(person.email);
    const sentBefore = twilio.standIn.outbox.length;
    const refused = await choose(agent, stranger.second.id);
    assert.equal(refused.status, 303);
    assert.equal(refused.headers.location, '/login/2fa/choose');
    assert.equal(twilio.standIn.outbox.length, sentBefore, 'no code went to a stranger');
  });

  it('ends the sign-in when the factor being answered is removed meanwhile', async () => {
    const person = await personWithTwoPhones();
    const agent = await passwordStep(person.email);
    const page = await agent.get('/login/2fa').expect(200);
    await prisma().userFactor.deleteMany({ where: { userId: person.userId, phoneNumber: person.phone } });
    const refused = await agent
      .post('/login/2fa')
      .type('form')
      .send({ _csrf: csrfTokenIn(page.text), code: twilio.standIn.lastCodeFor(person.phone)! });
    assert.equal(refused.status, 303);
    assert.equal(refused.headers.location, '/login');
  });

  it('turning two-factor authentication off removes every factor', async () => {
    const person = await personWithTwoPhones();
    await submitForm(person.agent, '/account/2fa/disable', '/account/2fa/disable', {});
    assert.equal(await prisma().userFactor.count({ where: { userId: person.userId } }), 0);
    const response = await signIn(twilio.app.agent(), person.email, strongPassword);
    assert.equal(response.headers.location, '/account', 'signed in with the password alone');
  });
});
