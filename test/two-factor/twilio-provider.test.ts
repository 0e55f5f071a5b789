// The Twilio provider's mapping of every Verify answer it can get, through the real SDK over
// HTTP to the stand-in.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { createLogger } from '../../src/core/logger.js';
import { TwilioVerifySender } from '../../src/factors/phone/senders/twilio.js';
import { mayHaveSent, type Channel } from '../../src/factors/phone/senders/sender.js';
import { checkRefused, sendRefused } from '../../src/web/messages.js';
import type { SendReason } from '../../src/factors/index.js';
import { VERIFICATION_TTL_MS, type TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import { startTwilioStandIn, twilioCredentials } from '../support/twilio.js';

/** A loopback port nothing listens on, so connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A well-formed verification SID that Twilio never issued. */
const UNKNOWN_VERIFICATION = `VE${'0'.repeat(32)}`;

describe('Twilio Verify provider', () => {
  let standIn: TwilioStandIn;
  let provider: TwilioVerifySender;
  const providerWith = (overrides: Partial<ConstructorParameters<typeof TwilioVerifySender>[0]> = {}) =>
    new TwilioVerifySender(
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
      createLogger('silent'),
    );
  before(async () => {
    standIn = await startTwilioStandIn();
    provider = providerWith();
  });
  after(() => standIn.stop());
  afterEach(() => standIn.resetFaults());

  it('starts a verification and approves the right code once', async () => {
    const started = await provider.start('+33611111111', 'sms');
    assert.equal(started.status, 'pending');
    assert.equal(started.providerStatus, 'pending');
    assert.match(started.sid ?? '', /^VE[0-9a-f]{32}$/);
    assert.equal(started.sid, standIn.outbox.at(-1)!.verificationSid);
    const code = standIn.lastCodeFor('+33611111111')!;
    const checked = await provider.check(started.sid, code);
    assert.equal(checked.status, 'approved');
    assert.equal(checked.providerStatus, 'approved');
    assert.equal((await provider.check(started.sid, code)).status, 'expired', 'a used code is gone (20404)');
  });

  it('checks a code against the verification it names, not another one pending for the number', async () => {
    const first = await provider.start('+33611111112', 'sms');
    standIn.advanceClock(VERIFICATION_TTL_MS + 1_000);
    const second = await provider.start('+33611111112', 'sms');
    assert.notEqual(second.sid, first.sid, 'the first one expired, so Twilio started a new one');
    const secondCode = standIn.lastCodeFor('+33611111112')!;
    assert.equal((await provider.check(first.sid!, secondCode)).status, 'expired');
    assert.equal((await provider.check(second.sid!, secondCode)).status, 'approved');
  });

  it("maps an invalid number (60200), keeping Twilio's code for the admin page", async () => {
    const result = await provider.start('+331', 'sms');
    assert.equal(result.status, 'invalid_number');
    assert.equal(result.errorCode, 60200);
  });

  it('maps a landline refusing SMS (60205) to a failed channel, and calls it fine', async () => {
    assert.equal((await provider.start('+442079460958', 'sms')).status, 'channel_failed');
    assert.equal((await provider.start('+442079460958', 'call')).status, 'pending');
  });

  it('maps too many sends (60203) and Twilio rate limits (20429) to rate_limited', async () => {
    for (let i = 0; i < 5; i += 1) assert.equal((await provider.start('+33622222222', 'sms')).status, 'pending');
    assert.equal((await provider.start('+33622222222', 'sms')).status, 'rate_limited');
    standIn.faults.rateLimited = true;
    assert.equal((await provider.start('+33633333333', 'sms')).status, 'rate_limited');
    assert.equal((await provider.check(UNKNOWN_VERIFICATION, '123456')).status, 'rate_limited');
  });

  it('maps too many wrong checks (60202)', async () => {
    const { sid } = await provider.start('+33644444444', 'sms');
    const wrong = standIn.lastCodeFor('+33644444444') === '999999' ? '888888' : '999999';
    const results = [];
    for (let i = 0; i < 6; i += 1) results.push((await provider.check(sid!, wrong)).status);
    assert.deepEqual(results, [
      'wrong_code',
      'wrong_code',
      'wrong_code',
      'wrong_code',
      'too_many_attempts',
      'too_many_attempts',
    ]);
  });

  it('maps an invalid parameter on a check (60200) to its own outcome, not a wrong code', async () => {
    const { sid } = await provider.start('+33644444445', 'sms');
    standIn.faults.invalidCheckParameter = true;
    const checked = await provider.check(sid!, standIn.lastCodeFor('+33644444445')!);
    assert.equal(checked.status, 'invalid_request');
    assert.equal(checked.errorCode, 60200);
    assert.doesNotMatch(checkRefused({ reason: checked.status }), /not right/);
  });

  it('maps permanent refusals to their own outcomes, each saying what can be done instead of "try again in a minute"', async () => {
    // [what, fault, number, channel, outcome, Twilio code, what the person can do]
    const cases: Array<[string, () => void, string, Channel, string, number, RegExp]> = [
      [
        'fraud block (SMS)',
        () => (standIn.faults.fraudBlockedPrefixes = ['+3366']),
        '+33661111111',
        'sms',
        'number_blocked',
        60410,
        /blocked .*fraud.*call instead.*another number.*support/,
      ],
      [
        'geo permission (SMS)',
        () => (standIn.faults.geoBlockedCountries = ['FR']),
        '+33662222222',
        'sms',
        'country_not_allowed',
        60605,
        /this country.*another country.*support/,
      ],
      [
        'geo permission (call)',
        () => (standIn.faults.geoBlockedCountries = ['FR']),
        '+33662222222',
        'call',
        'country_not_allowed',
        60605,
        /this country.*another country.*support/,
      ],
      [
        'SMS turned off',
        () => (standIn.faults.disabledChannels = ['sms']),
        '+33663333333',
        'sms',
        'channel_disabled',
        60223,
        /text message are turned off.*call instead.*support/,
      ],
      [
        'calls turned off',
        () => (standIn.faults.disabledChannels = ['call']),
        '+33663333333',
        'call',
        'channel_disabled',
        60223,
        /phone call are turned off.*text message instead.*support/,
      ],
      [
        'SMS region not enabled',
        () => (standIn.faults.smsDisabledCountries = ['FR']),
        '+33664444444',
        'sms',
        'region_not_enabled',
        21408,
        /this country.*call instead.*another country.*support/,
      ],
    ];
    for (const [what, arrange, number, channel, outcome, code, advice] of cases) {
      arrange();
      const result = await provider.start(number, channel);
      assert.equal(result.status, outcome, what);
      assert.equal(result.errorCode, code, what);
      // What a person is told: the pages word the outcome (src/web/messages.ts).
      const message = sendRefused({ reason: result.status as SendReason, channel });
      assert.match(message, /^No code was sent/, what);
      assert.match(message, advice, what);
      assert.doesNotMatch(message, /try again in a minute/i, what);
      standIn.resetFaults();
    }
  });

  it('refuses only the channel a refusal is about: calls still go where SMS is turned off, not enabled or fraud-blocked', async () => {
    standIn.faults.disabledChannels = ['sms'];
    standIn.faults.smsDisabledCountries = ['FR'];
    standIn.faults.fraudBlockedPrefixes = ['+3366'];
    assert.equal((await provider.start('+33665555555', 'call')).status, 'pending');
  });

  it('maps too many concurrent requests for a number (60212) to rate_limited', async () => {
    standIn.faults.tooManyConcurrentRequests = true;
    const result = await provider.start('+33666666666', 'sms');
    assert.equal(result.status, 'rate_limited');
    assert.equal(result.errorCode, 60212);
  });

  it('fails closed on bad credentials (20003), an unknown service (20404), 5xx, time-outs and a dead host', async () => {
    const unreachable = providerWith({ apiBaseUrl: `http://127.0.0.1:${await closedPort()}` });
    // [what, provider, fault, start outcome]: a start is "unavailable" only when Twilio surely
    // sent nothing; when it may have (no answer, or a failure on its side), it says so.
    const cases: Array<[string, TwilioVerifySender, () => void, string]> = [
      ['bad credentials', providerWith({ password: 'wrong' }), () => {}, 'unavailable'],
      ['unknown service', providerWith({ verifyServiceSid: `VA${'9'.repeat(32)}` }), () => {}, 'unavailable'],
      ['connection refused', unreachable, () => {}, 'unavailable'],
      // A 5xx may be one channel's trouble, so the caller may try the other.
      ['server error', provider, () => (standIn.faults.serverError = true), 'channel_failed'],
      ['time-out', provider, () => (standIn.faults.delayMs = 1_000), 'unconfirmed'],
      ['connection dropped', provider, () => (standIn.faults.down = true), 'unconfirmed'],
    ];
    for (const [what, subject, arrange, outcome] of cases) {
      arrange();
      const started = await subject.start('+33655555555', 'call');
      const checked = await subject.check(UNKNOWN_VERIFICATION, '123456');
      assert.equal(started.status, outcome, what);
      assert.equal(mayHaveSent(started), outcome !== 'unavailable', what);
      // Twilio answers an unknown service's check with the same 20404 as an expired code.
      assert.equal(checked.status, what === 'unknown service' ? 'expired' : 'unavailable', what);
      standIn.resetFaults();
    }
  });

  it('says a code may have gone out when Twilio sends it but answers too late', async () => {
    standIn.faults.delayMs = 1_000;
    const started = await provider.start('+33655555556', 'sms');
    assert.equal(started.status, 'unconfirmed');
    // The stand-in answers the late request after the provider gave up: it did send.
    await fetch(`${standIn.url}/v2/Services/none/Verifications/none`);
    assert.equal(standIn.messagesTo('+33655555556').length, 1);
  });
});
