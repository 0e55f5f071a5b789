// Recovery codes over real HTTP: made and shown once when 2FA is turned on, downloaded, used
// once at sign-in (even in parallel), counted in the wrong-code lock, made anew with the
// password, and gone with 2FA. The database keeps hashes only.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  confirmPassword,
  csrfTokenIn,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
} from '../support/app.js';
import { appOnTwilio, personWithTwoFactor, turnOnTwoFactor } from '../support/twilio.js';

let counter = 0;
function nextMobile(): string {
  counter += 1;
  return `+3361277${String(counter).padStart(4, '0')}`;
}

const CODE = /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/;

/** The codes a recovery codes page shows. */
function codesIn(html: string): string[] {
  return [...html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((match) => match[1]!);
}

describe('recovery codes', () => {
  const twilio = appOnTwilio();
  const prisma = () => twilio.app.services.database.prisma;

  /** A person who just turned 2FA on, and the codes the page showed them. */
  async function personWithCodes() {
    const person = await personWithTwoFactor(twilio, nextMobile());
    const page = await person.agent.get('/account/recovery-codes').expect(200);
    const codes = codesIn(page.text);
    assert.equal(codes.length, 10);
    const user = await prisma().user.findUniqueOrThrow({ where: { email: person.email } });
    return { ...person, codes, userId: user.id };
  }

  /** A new agent past the password step, at the phone's code step. */
  async function passwordStep(email: string): Promise<Agent> {
    const agent = twilio.app.agent();
    const response = await signIn(agent, email, strongPassword);
    assert.equal(response.headers.location, '/login/2fa');
    return agent;
  }

  function useRecoveryCode(agent: Agent, code: string) {
    return submitForm(agent, '/login/2fa/recovery', '/login/2fa/recovery', { code });
  }

  const unused = (userId: string) => prisma().recoveryCode.count({ where: { factor: { userId }, usedAt: null } });

  it('shows ten codes once, right after 2FA is turned on, with Copy, Download and Print', async () => {
    const agent = twilio.app.agent();
    await signUp(agent);
    await confirmPassword(agent);
    const phone = nextMobile();
    await submitForm(agent, '/account/2fa', '/account/2fa', { phone, country: 'FR' });
    const verified = await submitForm(agent, '/account/2fa/verify', '/account/2fa/verify', {
      code: twilio.standIn.lastCodeFor(phone)!,
    });
    assert.equal(verified.status, 303);
    assert.equal(verified.headers.location, '/account/recovery-codes');

    const page = await agent.get('/account/recovery-codes').expect(200);
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.match(page.text, /Two-factor authentication is on/);
    const codes = codesIn(page.text);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10, 'ten different codes');
    for (const code of codes) assert.match(code, CODE);
    assert.match(
      page.text,
      /<button type="button" class="button button--secondary" data-copy-codes hidden>Copy<\/button>/,
    );
    assert.match(
      page.text,
      /<button type="button" class="button button--secondary" data-print-codes hidden>Print<\/button>/,
    );
    assert.match(
      page.text,
      /<a class="button button--secondary" href="\/account\/recovery-codes\/download"[^>]*>Download<\/a>/,
    );
    assert.match(page.text, /<script src="\/js\/recovery-codes\.[0-9a-f]{10}\.js" defer><\/script>/);
    assert.doesNotMatch(page.text, /<script>|onclick=/, 'no inline script');
    assert.match(page.text, /I have saved these codes/);

    // Once: the page does not show them again.
    const again = await agent.get('/account/recovery-codes');
    assert.equal(again.status, 303);
    assert.equal(again.headers.location, '/account');
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /shown only once/);
    assert.match(account.text, /Recovery codes: 10 of 10 left/);
    assert.deepEqual(codesIn(account.text), []);

    const saved = await submitForm(agent, '/account', '/account/recovery-codes/saved', {});
    assert.equal(saved.headers.location, '/account');
    const made = await prisma().auditEvent.findFirstOrThrow({
      where: {
        type: 'recovery_codes_made',
        user: {
          email: (
            await prisma().userFactor.findFirstOrThrow({ where: { phoneNumber: phone }, include: { user: true } })
          ).user.email,
        },
      },
    });
    assert.deepEqual(made.detail, { replaced: false, count: 10 });
  });

  it('downloads the ten codes as a text/plain attachment, until "I have saved these codes"', async () => {
    const person = await personWithCodes();
    const download = await person.agent.get('/account/recovery-codes/download').expect(200);
    assert.match(download.headers['content-type'] as string, /^text\/plain; charset=utf-8/);
    assert.equal(download.headers['content-disposition'], 'attachment; filename="recovery-codes.txt"');
    assert.equal(download.headers['cache-control'], 'no-store');
    for (const code of person.codes) assert.ok(download.text.includes(code), `the file has ${code}`);
    assert.equal(download.text.match(/^[0-9a-z]{5}-[0-9a-z]{5}\r?$/gm)?.length, 10);

    const saved = await submitForm(person.agent, '/account', '/account/recovery-codes/saved', {});
    assert.equal(saved.status, 303);
    const gone = await person.agent.get('/account/recovery-codes/download');
    assert.equal(gone.status, 303);
    assert.equal(gone.headers.location, '/account');
    // Nor does another session of the person get them.
    const other = await passwordStep(person.email);
    await submitForm(other, '/login/2fa', '/login/2fa', { code: twilio.standIn.lastCodeFor(person.phone)! });
    assert.equal((await other.get('/account/recovery-codes/download')).status, 303);
  });

  it('keeps no code in clear: ten SHA-256 hashes for the set', async () => {
    const person = await personWithCodes();
    const set = await prisma().userFactor.findFirstOrThrow({
      where: { userId: person.userId, kind: 'recovery_codes' },
    });
    const rows = await prisma().$queryRaw<Array<Record<string, unknown>>>`
      SELECT rc.*, uf.label, uf.phone_number FROM recovery_codes rc JOIN user_factors uf ON uf.id = rc.factor_id
      WHERE uf.user_id = ${person.userId}::uuid`;
    assert.equal(rows.length, 10);
    const stored = JSON.stringify(rows, (_key, value: unknown) =>
      value instanceof Date ? value.toISOString() : value,
    ).toLowerCase();
    for (const code of person.codes) {
      assert.ok(!stored.includes(code), 'not the code as shown');
      assert.ok(!stored.includes(code.replace('-', '')), 'not the code without its dash');
    }
    for (const row of rows) {
      assert.match(row.code_hash as string, /^[0-9a-f]{64}$/);
      assert.equal(row.factor_id, set.id);
      assert.equal(row.used_at, null);
    }
    const events = JSON.stringify(
      await prisma().auditEvent.findMany({ where: { userId: person.userId }, select: { detail: true } }),
    );
    for (const code of person.codes) assert.ok(!events.includes(code.replace('-', '')), 'no code in the audit trail');
  });

  it('signs in with a code once, not twice, and says how many are left', async () => {
    const person = await personWithCodes();
    const agent = await passwordStep(person.email);
    const step = await agent.get('/login/2fa').expect(200);
    assert.match(step.text, /<a href="\/login\/2fa\/recovery">Use a recovery code<\/a>/);
    assert.doesNotMatch(step.text, /Use another way/, 'recovery codes are not another way to choose');
    const form = await agent.get('/login/2fa/recovery').expect(200);
    assert.match(form.text, /<label for="code">Recovery code<\/label>/);
    assert.match(form.text, /<button type="submit" class="button">Sign in<\/button>/);

    // Typed loosely: capitals, a space for the dash, an o for a 0.
    const code = person.codes[0]!;
    const typed = code.toUpperCase().replace('-', ' ').replace(/0/g, 'O');
    const done = await useRecoveryCode(agent, typed);
    assert.equal(done.status, 303);
    assert.equal(done.headers.location, '/account');
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, /You signed in with a recovery code. You have 9 recovery codes left./);
    assert.match(account.text, /Recovery codes: 9 of 10 left/);
    assert.equal(await unused(person.userId), 9);

    const used = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: person.userId, type: 'recovery_code_used' },
    });
    assert.equal(used.outcome, 'ok');
    assert.deepEqual(used.detail, { left: 9 });
    const signedIn = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: person.userId, type: 'sign_in', outcome: 'ok' },
      orderBy: { id: 'desc' },
    });
    assert.deepEqual(signedIn.detail, {
      method: 'password_and_recovery_code',
      browser: (signedIn.detail as { browser?: unknown }).browser,
    });
    assert.match(String((signedIn.detail as { browser?: unknown }).browser), /^[A-Za-z0-9_-]{22}$/);

    const twice = await passwordStep(person.email);
    const refused = await useRecoveryCode(twice, code);
    assert.equal(refused.status, 422);
    assert.match(refused.text, /That recovery code was already used/);
    assert.equal((await twice.get('/account')).status, 303, 'not signed in');
    const wrong = await useRecoveryCode(twice, 'abcde-fghjk');
    assert.equal(wrong.status, 422);
    assert.match(wrong.text, /That recovery code is not right/);
    const malformed = await useRecoveryCode(twice, 'abc');
    assert.equal(malformed.status, 422);
    assert.match(malformed.text, /A recovery code is 10 letters and digits/);

    // The phone stays the usual factor: the next sign-in texts it a code, as before.
    const sent = twilio.standIn.messagesTo(person.phone).length;
    const next = await passwordStep(person.email);
    assert.equal(twilio.standIn.messagesTo(person.phone).length, sent + 1);
    assert.match((await next.get('/login/2fa').expect(200)).text, /We sent a 6-digit code by text message/);
  });

  it('lets exactly one of five parallel uses of one code in', async () => {
    const person = await personWithCodes();
    const agents: Agent[] = [];
    const tokens: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const agent = await passwordStep(person.email);
      agents.push(agent);
      tokens.push(csrfTokenIn((await agent.get('/login/2fa/recovery').expect(200)).text));
    }
    const code = person.codes[3]!;
    const replies = await Promise.all(
      agents.map((agent, index) =>
        agent.post('/login/2fa/recovery').type('form').send({ code, _csrf: tokens[index]! }),
      ),
    );
    const statuses = replies.map((reply) => reply.status).sort();
    assert.deepEqual(statuses, [303, 422, 422, 422, 422]);
    const signedIn = await Promise.all(agents.map(async (agent) => (await agent.get('/account')).status === 200));
    assert.equal(signedIn.filter(Boolean).length, 1);
    assert.equal(await unused(person.userId), 9);
    assert.equal(await prisma().auditEvent.count({ where: { userId: person.userId, type: 'recovery_code_used' } }), 1);
  });

  it('counts wrong recovery codes in the same wrong-code lock as phone codes', async () => {
    const person = await personWithCodes();
    const agent = await passwordStep(person.email);
    const limit = twilio.app.config.limits.wrongCodesPerUser;
    // A few wrong phone codes (Twilio Verify itself refuses a verification after five), then recovery codes.
    const half = 3;
    for (let i = 0; i < half; i += 1) {
      const wrong = await submitForm(agent, '/login/2fa', '/login/2fa', { code: '000000' });
      assert.equal(wrong.status, 422);
    }
    for (let i = half; i < limit; i += 1) {
      const wrong = await useRecoveryCode(agent, 'zzzzz-zzzzz');
      assert.equal(wrong.status, 422);
    }
    const locked = await useRecoveryCode(agent, person.codes[0]!);
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers['retry-after']) > 0);
    assert.match(locked.text, /Too many wrong codes/);
    assert.equal(await unused(person.userId), 10, 'a locked step uses no code');
    const phoneLocked = await submitForm(agent, '/login/2fa', '/login/2fa', {
      code: twilio.standIn.lastCodeFor(person.phone)!,
    });
    assert.equal(phoneLocked.status, 429, 'the phone code is locked too');
    const audited = await prisma().auditEvent.count({
      where: {
        userId: person.userId,
        type: 'code_checked',
        outcome: 'wrong_code',
        detail: { path: ['method'], equals: 'recovery_code' },
      },
    });
    assert.equal(audited, limit - half);
  });

  it('makes a new set behind the password, voiding the old one, shown once', async () => {
    const person = await personWithCodes();
    // Signed in anew (with a recovery code): the password must be confirmed again.
    const agent = await passwordStep(person.email);
    assert.equal((await useRecoveryCode(agent, person.codes[0]!)).status, 303);
    const account = await agent.get('/account').expect(200);
    assert.match(
      account.text,
      /<a class="button button--secondary" href="\/account\/recovery-codes\/new">Make new recovery codes<\/a>/,
    );
    const asked = await agent.get('/account/recovery-codes/new');
    assert.equal(asked.status, 303);
    assert.match(asked.headers.location as string, /^\/account\/confirm-password\?next=/);
    const token = csrfTokenIn(account.text);
    const unconfirmed = await agent.post('/account/recovery-codes/new').type('form').send({ _csrf: token });
    assert.match(unconfirmed.headers.location as string, /^\/account\/confirm-password/);
    assert.equal(await unused(person.userId), 9, 'nothing made without the password');

    await confirmPassword(agent);
    const made = await submitForm(agent, '/account/recovery-codes/new', '/account/recovery-codes/new', {});
    assert.equal(made.status, 303);
    assert.equal(made.headers.location, '/account/recovery-codes');
    const fresh = codesIn((await agent.get('/account/recovery-codes').expect(200)).text);
    assert.equal(fresh.length, 10);
    assert.equal(fresh.filter((code) => person.codes.includes(code)).length, 0);
    assert.equal(await unused(person.userId), 10);
    assert.equal(await prisma().userFactor.count({ where: { userId: person.userId, kind: 'recovery_codes' } }), 1);
    assert.match((await agent.get('/account').expect(200)).text, /Recovery codes: 10 of 10 left/);

    const old = await passwordStep(person.email);
    const refused = await useRecoveryCode(old, person.codes[1]!);
    assert.equal(refused.status, 422);
    assert.match(refused.text, /That recovery code is not right/);
    assert.equal((await useRecoveryCode(old, fresh[0]!)).status, 303);
    const remade = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: person.userId, type: 'recovery_codes_made' },
      orderBy: { id: 'desc' },
    });
    assert.deepEqual(remade.detail, { replaced: true, count: 10 });
  });

  it('warns on the account page when 3 or fewer codes are left', async () => {
    const person = await personWithCodes();
    await prisma().recoveryCode.updateMany({
      where: { factor: { userId: person.userId }, codeHash: { not: '' } },
      data: { usedAt: new Date() },
    });
    const set = await prisma().userFactor.findFirstOrThrow({
      where: { userId: person.userId, kind: 'recovery_codes' },
    });
    const keep = await prisma().recoveryCode.findMany({ where: { factorId: set.id }, take: 3 });
    await prisma().recoveryCode.updateMany({
      where: { id: { in: keep.map((row) => row.id) } },
      data: { usedAt: null },
    });
    const account = await person.agent.get('/account').expect(200);
    assert.match(account.text, /Recovery codes: 3 of 10 left/);
    assert.match(account.text, /Only 3 of your recovery codes are left. Make new ones soon./);
  });

  it('goes with two-factor authentication when it is turned off', async () => {
    const person = await personWithCodes();
    const set = await prisma().userFactor.findFirstOrThrow({
      where: { userId: person.userId, kind: 'recovery_codes' },
    });
    const off = await submitForm(person.agent, '/account/2fa/disable', '/account/2fa/disable', {});
    assert.equal(off.status, 303);
    assert.equal(await prisma().userFactor.count({ where: { userId: person.userId } }), 0);
    assert.equal(await prisma().recoveryCode.count({ where: { factorId: set.id } }), 0);
    const account = await person.agent.get('/account').expect(200);
    assert.match(account.text, /Two-factor authentication: Off/);
    assert.doesNotMatch(account.text, /Recovery codes:/);

    // Turned on again: a new set, shown once.
    await turnOnTwoFactor(person.agent, twilio.standIn, nextMobile());
    assert.equal(codesIn((await person.agent.get('/account/recovery-codes').expect(200)).text).length, 10);
  });

  it('is not two-factor authentication on its own, nor offered among the ways to choose', async () => {
    const person = await personWithCodes();
    // A second phone, so "Use another way" shows: the set is a link there, not a choice.
    await prisma().userFactor.create({ data: { userId: person.userId, kind: 'phone', phoneNumber: nextMobile() } });
    const agent = await passwordStep(person.email);
    const choices = await agent.get('/login/2fa/choose').expect(200);
    const labels = [...choices.text.matchAll(/<button type="submit"[^>]*>([^<]+)<\/button>/g)].map((m) => m[1]);
    assert.equal(labels.length, 3, `the other phone's two ways and Cancel, no recovery codes: ${labels.join(' | ')}`);
    assert.match(choices.text, /<a href="\/login\/2fa\/recovery">Use a recovery code<\/a>/);
    const set = await prisma().userFactor.findFirstOrThrow({
      where: { userId: person.userId, kind: 'recovery_codes' },
    });
    const chosen = await submitForm(agent, '/login/2fa/choose', '/login/2fa/choose', { factor: set.id });
    assert.equal(chosen.headers.location, '/login/2fa/choose', 'the set cannot be chosen as a step');

    // With only the set left (the phones gone behind the app's back), the password alone signs in.
    await prisma().userFactor.deleteMany({ where: { userId: person.userId, kind: 'phone' } });
    const alone = twilio.app.agent();
    const response = await signIn(alone, person.email, strongPassword);
    assert.equal(response.headers.location, '/account');
    assert.match((await alone.get('/account').expect(200)).text, /Two-factor authentication: Off/);
  });
});
