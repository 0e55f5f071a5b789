// The Twilio provider's mapping of every Verify answer it can get, through the real SDK over
// HTTP to the stand-in.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createLogger } from '../../src/core/logger.js';
import { TwilioProvider } from '../../src/two-factor/providers/twilio.js';
import type { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import { startTwilioStandIn, twilioCredentials } from '../support/twilio.js';

describe('Twilio Verify provider', () => {
  let standIn: TwilioStandIn;
  let provider: TwilioProvider;
  const providerWith = (overrides: Partial<ConstructorParameters<typeof TwilioProvider>[0]> = {}) =>
    new TwilioProvider(
      {
        accountSid: twilioCredentials.accountSid,
        username: twilioCredentials.accountSid,
        password: twilioCredentials.authToken,
        verifyServiceSid: twilioCredentials.serviceSid,
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
    const checked = await provider.check('+33611111111', code);
    assert.equal(checked.status, 'approved');
    assert.equal(checked.providerStatus, 'approved');
    assert.equal((await provider.check('+33611111111', code)).status, 'expired', 'a used code is gone (20404)');
  });

  it('maps an invalid number (60200), keeping Twilio\'s code for the admin page', async () => {
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
    assert.equal((await provider.check('+33633333333', '123456')).status, 'rate_limited');
  });

  it('maps too many wrong checks (60202)', async () => {
    await provider.start('+33644444444', 'sms');
    const wrong = standIn.lastCodeFor('+33644444444') === '999999' ? '888888' : '999999';
    const results = [];
    for (let i = 0; i < 6; i += 1) results.push((await provider.check('+33644444444', wrong)).status);
    assert.deepEqual(results, ['wrong_code', 'wrong_code', 'wrong_code', 'wrong_code', 'too_many_attempts', 'too_many_attempts']);
  });

  it('fails closed on bad credentials (20003), an unknown service (20404), 5xx, time-outs and a dead host', async () => {
    const cases: Array<[string, TwilioProvider, () => void]> = [
      ['bad credentials', providerWith({ password: 'wrong' }), () => {}],
      ['unknown service', providerWith({ verifyServiceSid: `VA${'9'.repeat(32)}` }), () => {}],
      ['server error', provider, () => (standIn.faults.serverError = true)],
      ['time-out', provider, () => (standIn.faults.delayMs = 1_000)],
      ['connection dropped', provider, () => (standIn.faults.down = true)],
    ];
    for (const [what, subject, arrange] of cases) {
      arrange();
      const started = await subject.start('+33655555555', 'call');
      const checked = await subject.check('+33655555555', '123456');
      // A 5xx may be one channel's trouble, so the caller may try the other; never "pending".
      assert.equal(started.status, what === 'server error' ? 'channel_failed' : 'unavailable', what);
      // Twilio answers an unknown service's check with the same 20404 as an expired code.
      assert.equal(checked.status, what === 'unknown service' ? 'expired' : 'unavailable', what);
      standIn.resetFaults();
    }
  });
});
