// The Twilio TOTP back end through the real `twilio` SDK over HTTP to the Verify stand-in, with
// codes computed here from the secret the person is shown, as their authenticator app would.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { Secret, TOTP, URI } from 'otpauth';
import { createLogger } from '../../src/core/logger.js';
import type { TotpStored } from '../../src/factors/totp/backends/backend.js';
import { TwilioTotpBackend, type TwilioTotpOptions } from '../../src/factors/totp/backends/twilio.js';
import { MAX_FACTOR_ATTEMPTS } from '../../tools/twilio-stand-in/factors.js';
import type { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import { startTwilioStandIn, twilioCredentials } from '../support/twilio.js';

/** A loopback port nothing listens on, so connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let people = 0;
function nextPerson() {
  people += 1;
  return { userId: randomUUID(), accountName: `person${people}@example.com` };
}

describe('Twilio TOTP back end', () => {
  let standIn: TwilioStandIn;
  let backend: TwilioTotpBackend;
  const logLines: string[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  const backendWith = (
    overrides: Partial<ConstructorParameters<typeof TwilioTotpBackend>[0]> = {},
    options: TwilioTotpOptions = {},
  ) =>
    new TwilioTotpBackend(
      {
        accountSid: twilioCredentials.accountSid,
        username: twilioCredentials.accountSid,
        password: twilioCredentials.authToken,
        verifyServiceSid: twilioCredentials.serviceSid,
        apiVerifyServiceSid: twilioCredentials.apiServiceSid,
        timeoutMs: 500,
        apiBaseUrl: standIn.url,
        ...overrides,
      },
      createLogger('info', logs),
      // Our clock is the stand-in's, which the tests move.
      { now: () => standIn.currentTime(), ...options },
    );

  before(async () => {
    standIn = await startTwilioStandIn();
    backend = backendWith();
  });
  after(() => standIn.stop());
  afterEach(() => standIn.resetFaults());

  /** The code the person's app shows on the stand-in's clock, `steps` time steps away. */
  const codeFrom = (secret: string, steps = 0) =>
    new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: standIn.currentTime() + steps * 30_000 });
  /** A code for a time far from now: wrong for the next five minutes. */
  const wrongCode = (secret: string) => codeFrom(secret, 10);
  /**
   * Moves the stand-in's clock to the middle of the next time step: a new code differs from the
   * last one used, and no step ends between computing a code and checking it.
   */
  const nextStep = () => standIn.advanceClock(45_000 - (standIn.currentTime() % 30_000));

  async function started(person = nextPerson(), subject = backend) {
    const result = await subject.start(person);
    assert.ok(result.ok, 'the factor was created');
    return { person, ...result.start };
  }

  async function enrolled(person = nextPerson()) {
    const start = await started(person);
    const finished = await backend.finish(start.pending, codeFrom(start.secret));
    assert.ok(finished.ok, 'the first code verified the factor');
    nextStep();
    return { ...start, stored: finished.stored };
  }

  // ---- Enrolment -------------------------------------------------------------------------------

  it("creates an unverified factor under the person's user id (not the email) and shows its binding once", async () => {
    const { person, uri, secret, pending } = await started();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const shown = URI.parse(uri);
    assert.ok(shown instanceof TOTP);
    assert.equal(shown.label, person.accountName, 'the account is named in the app');
    assert.equal(shown.issuer, standIn.factors.totp.issuer);
    assert.equal(shown.secret.base32, secret);
    assert.deepEqual([shown.algorithm, shown.digits, shown.period], ['SHA1', 6, 30]);

    assert.deepEqual(Object.keys(pending).sort(), ['entity', 'factorSid']);
    assert.equal(pending.entity, person.userId, 'the Entity is the user id, which names no one');
    const factor = standIn.factors.factor(pending.factorSid!)!;
    assert.equal(factor.status, 'unverified');
    assert.equal(factor.identity, pending.entity);
    assert.ok(!factor.friendlyName.includes(person.accountName), 'Twilio is not given the email');
    assert.deepEqual(factor.config, { alg: 'sha1', skew: 1, code_length: 6, time_step: 30 });
    assert.ok(!Object.values(pending).some((value) => value.includes(secret)), 'the pending state holds no secret');
  });

  it('verifies the factor with a code computed from the shown secret and keeps only its SIDs', async () => {
    const { pending, secret } = await started();
    const finished = await backend.finish(pending, codeFrom(secret));
    assert.ok(finished.ok);
    assert.deepEqual(
      { ...finished.stored, lastCode: undefined },
      {
        twilioEntity: pending.entity,
        twilioFactorSid: pending.factorSid,
        lastStep: Math.floor(standIn.currentTime() / 30_000),
        lastCode: undefined,
      },
    );
    assert.match(
      finished.stored.lastCode!,
      /^\d+\.[A-Za-z0-9_-]{43}$/,
      'the step and a hash of the code used, not the secret',
    );
    assert.equal(standIn.factors.factor(pending.factorSid!)!.status, 'verified');
  });

  it('keeps the factor unverified after a wrong first code, then verifies it with the right one', async () => {
    const { pending, secret } = await started();
    assert.deepEqual(await backend.finish(pending, wrongCode(secret)), { ok: false, reason: 'wrong_code' });
    assert.equal(standIn.factors.factor(pending.factorSid!)!.status, 'unverified');
    assert.deepEqual(await backend.finish(pending, 'abcdef'), { ok: false, reason: 'wrong_code' });
    assert.ok((await backend.finish(pending, codeFrom(secret))).ok);
  });

  it('says rate_limited once Twilio locks a factor after five wrong first codes (60310)', async () => {
    const { pending, secret } = await started();
    for (let i = 0; i < MAX_FACTOR_ATTEMPTS; i += 1) {
      assert.deepEqual(await backend.finish(pending, wrongCode(secret)), { ok: false, reason: 'wrong_code' });
    }
    assert.deepEqual(await backend.finish(pending, codeFrom(secret)), { ok: false, reason: 'rate_limited' });
  });

  it('says not_found for an enrolment whose factor Twilio no longer has (20404)', async () => {
    const { pending, secret } = await started();
    await backend.remove({ twilioEntity: pending.entity, twilioFactorSid: pending.factorSid });
    assert.deepEqual(await backend.finish(pending, codeFrom(secret)), { ok: false, reason: 'not_found' });
    assert.deepEqual(await backend.finish({}, codeFrom(secret)), { ok: false, reason: 'not_found' });
  });

  it('shows our issuer when given one, with the same secret', async () => {
    const named = backendWith({}, { issuer: 'Example sign-in' });
    const { uri, secret } = await started(nextPerson(), named);
    const shown = URI.parse(uri) as TOTP;
    assert.equal(shown.issuer, 'Example sign-in');
    assert.equal(shown.secret.base32, secret);
    assert.match(uri, /^otpauth:\/\/totp\/Example%20sign-in:person\d+%40example\.com\?/);
  });

  it('keeps one Entity per person: a second set-up makes a new factor under the same identity', async () => {
    const person = nextPerson();
    const first = await started(person);
    const second = await started(person);
    assert.equal(first.pending.entity, second.pending.entity);
    assert.notEqual(first.pending.factorSid, second.pending.factorSid);
    assert.notEqual((await started()).pending.entity, first.pending.entity);
  });

  // ---- Sign-in -------------------------------------------------------------------------------

  it('approves a sign-in challenge with the current code, and refuses a wrong one', async () => {
    const { secret, stored } = await enrolled();
    const approved = await backend.verify(stored, codeFrom(secret));
    assert.ok(approved.ok);
    assert.equal(approved.stored.twilioFactorSid, stored.twilioFactorSid);
    assert.notEqual(approved.stored.lastCode, stored.lastCode, 'the code accepted is marked');
    nextStep();
    assert.deepEqual(await backend.verify(stored, wrongCode(secret)), { ok: false, reason: 'wrong_code' });
    assert.deepEqual(await backend.verify(stored, '12345'), { ok: false, reason: 'wrong_code' });
    assert.ok((await backend.verify(stored, codeFrom(secret))).ok, 'a wrong code does not spoil the right one');
  });

  it('refuses a code already used (the challenge stays pending) and takes the next one', async () => {
    const { secret, stored } = await enrolled();
    const code = codeFrom(secret);
    assert.ok((await backend.verify(stored, code)).ok);
    assert.deepEqual(await backend.verify(stored, code), { ok: false, reason: 'wrong_code' });
    nextStep();
    assert.ok((await backend.verify(stored, codeFrom(secret))).ok);
  });

  it('refuses the code used to verify the factor at the first sign-in', async () => {
    const { pending, secret } = await started();
    const code = codeFrom(secret);
    const finished = await backend.finish(pending, code);
    assert.ok(finished.ok);
    assert.deepEqual(await backend.verify(finished.stored, code), { ok: false, reason: 'replayed' });
    const { lastCode: _forgotten, ...unmarked } = finished.stored;
    assert.deepEqual(
      await backend.verify(unmarked, code),
      { ok: false, reason: 'wrong_code' },
      'Twilio refuses it too',
    );
  });

  it('refuses a code it accepted even from a verifier that would take it again, until it can no longer be good', async () => {
    const { secret, stored } = await enrolled();
    standIn.factors.totp.allowReplay = true;
    try {
      const code = codeFrom(secret);
      const approved = await backend.verify(stored, code);
      assert.ok(approved.ok);
      assert.deepEqual(await backend.verify(approved.stored, code), { ok: false, reason: 'replayed' });
      standIn.advanceClock(60_000);
      assert.deepEqual(await backend.verify(approved.stored, code), { ok: false, reason: 'replayed' });
      // Another code accepted meanwhile does not make the first one good again.
      const next = codeFrom(secret, 1);
      const second = await backend.verify(approved.stored, next);
      assert.ok(second.ok, 'the next code');
      assert.deepEqual(await backend.verify(second.stored, code), { ok: false, reason: 'replayed' });
      assert.deepEqual(await backend.verify(second.stored, next), { ok: false, reason: 'replayed' });
      // Three steps on, the code is wrong at Twilio anyway: the mark no longer matters.
      standIn.advanceClock(30_000);
      assert.deepEqual(await backend.verify(approved.stored, code), { ok: false, reason: 'wrong_code' });
    } finally {
      standIn.factors.totp.allowReplay = false;
    }
  });

  it('accepts one time step of clock skew either way, not two', async () => {
    const { secret, stored } = await enrolled();
    nextStep();
    nextStep(); // two steps past the code that verified the factor, so no refusal below is a replay
    assert.deepEqual(await backend.verify(stored, codeFrom(secret, -2)), { ok: false, reason: 'wrong_code' });
    assert.ok((await backend.verify(stored, codeFrom(secret, -1))).ok, 'a code one step old');
    nextStep();
    nextStep();
    assert.deepEqual(await backend.verify(stored, codeFrom(secret, 2)), { ok: false, reason: 'wrong_code' });
    assert.ok((await backend.verify(stored, codeFrom(secret, 1))).ok, 'a code one step ahead');
  });

  it('says not_found for a factor Twilio no longer has (20404) or never verified (60318)', async () => {
    const { secret, stored } = await enrolled();
    await backend.remove(stored);
    assert.deepEqual(await backend.verify(stored, codeFrom(secret)), { ok: false, reason: 'not_found' });
    assert.deepEqual(await backend.verify({}, codeFrom(secret)), { ok: false, reason: 'not_found' });

    const { pending, secret: unverifiedSecret } = await started();
    const unverified: TotpStored = { twilioEntity: pending.entity, twilioFactorSid: pending.factorSid };
    assert.deepEqual(await backend.verify(unverified, codeFrom(unverifiedSecret)), { ok: false, reason: 'not_found' });
  });

  // ---- Removal -------------------------------------------------------------------------------

  it('deletes the factor at Twilio, and removing it again or while Twilio is away does not throw', async () => {
    const { stored } = await enrolled();
    await backend.remove(stored);
    assert.equal(standIn.factors.factor(stored.twilioFactorSid!), undefined);
    await backend.remove(stored);
    await backend.remove({});
    const other = await enrolled();
    standIn.faults.serverError = true;
    await backend.remove(other.stored);
    standIn.resetFaults();
    assert.equal(standIn.factors.factor(other.stored.twilioFactorSid!)!.status, 'verified', 'left at Twilio');
  });

  // ---- Failures ------------------------------------------------------------------------------

  it('maps 20429 to rate_limited', async () => {
    const { pending, secret, stored } = await (async () => {
      const enrolledOne = await enrolled();
      const startedOne = await started();
      return { ...startedOne, stored: enrolledOne.stored, secret: enrolledOne.secret };
    })();
    standIn.faults.rateLimited = true;
    assert.deepEqual(await backend.start(nextPerson()), { ok: false, reason: 'rate_limited' });
    assert.deepEqual(await backend.finish(pending, '123456'), { ok: false, reason: 'rate_limited' });
    assert.deepEqual(await backend.verify(stored, codeFrom(secret)), { ok: false, reason: 'rate_limited' });
  });

  it('fails closed on bad credentials (20003), an unknown service (20404), 5xx, time-outs and a dead host, saying when a code may have been used', async () => {
    const { pending, stored, secret } = await (async () => {
      const enrolledOne = await enrolled();
      const startedOne = await started();
      return { pending: startedOne.pending, stored: enrolledOne.stored, secret: enrolledOne.secret };
    })();
    const unreachable = backendWith({ apiBaseUrl: `http://127.0.0.1:${await closedPort()}` });
    // Refused before Twilio judged anything: unavailable. Lost after Twilio may have: unconfirmed.
    const cases: Array<[string, TwilioTotpBackend, () => void, 'unavailable' | 'unconfirmed']> = [
      ['bad credentials', backendWith({ password: 'wrong' }), () => {}, 'unavailable'],
      ['connection refused', unreachable, () => {}, 'unavailable'],
      ['server error', backend, () => (standIn.faults.serverError = true), 'unconfirmed'],
      ['time-out', backend, () => (standIn.faults.delayMs = 1_000), 'unconfirmed'],
      ['connection dropped', backend, () => (standIn.faults.down = true), 'unconfirmed'],
    ];
    for (const [what, subject, arrange, judged] of cases) {
      arrange();
      assert.deepEqual(await subject.start(nextPerson()), { ok: false, reason: 'unavailable' }, what);
      assert.deepEqual(await subject.finish(pending, '123456'), { ok: false, reason: judged }, what);
      assert.deepEqual(await subject.verify(stored, codeFrom(secret)), { ok: false, reason: judged }, what);
      standIn.resetFaults();
    }
    const elsewhere = backendWith({ verifyServiceSid: `VA${'9'.repeat(32)}` });
    assert.deepEqual(await elsewhere.start(nextPerson()), { ok: false, reason: 'unavailable' }, 'unknown service');
    assert.equal(standIn.factors.factor(pending.factorSid!)!.status, 'unverified', 'no failure verified anything');
  });

  it('logs failures without codes, secrets or the account name', async () => {
    logLines.length = 0;
    const { person, pending, secret } = await started();
    const code = codeFrom(secret);
    standIn.faults.serverError = true;
    await backend.finish(pending, code);
    await backend.verify({ twilioEntity: pending.entity, twilioFactorSid: pending.factorSid }, code);
    standIn.resetFaults();
    const logged = logLines.join('');
    assert.match(logged, /Twilio Verify TOTP request failed/);
    assert.match(logged, /"twilioStatus":500/);
    // The code as a number of its own (not inside a timestamp's digits).
    assert.doesNotMatch(logged, new RegExp(`(?<![0-9a-f])${code}(?![0-9a-f])`), 'the logs do not carry the code');
    assert.ok(!logged.includes(secret), 'the logs do not carry the secret');
    assert.ok(!logged.includes(person.accountName), 'the logs do not carry the account name');
  });
});
