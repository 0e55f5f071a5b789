// The stand-in's Entities, Factors and Challenges over raw HTTP, against what Twilio's OpenAPI
// description (shared/twilio-oai/twilio_verify_v2.json) and error dictionary say: field names,
// HTTP statuses, resource statuses and error codes. The back end's own tests go through the SDK.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { CHALLENGE_DEFAULT_TTL_MS, MAX_CHALLENGE_ATTEMPTS } from '../../tools/twilio-stand-in/factors.js';
import type { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import { startTwilioStandIn, twilioCredentials } from '../support/twilio.js';

// The properties of the OpenAPI schemas verify.v2.service.entity{,.new_factor,.factor,.challenge}.
const ENTITY_FIELDS = ['sid', 'identity', 'account_sid', 'service_sid', 'date_created', 'date_updated', 'url', 'links'];
const FACTOR_FIELDS = [
  'sid',
  'account_sid',
  'service_sid',
  'entity_sid',
  'identity',
  'date_created',
  'date_updated',
  'friendly_name',
  'status',
  'factor_type',
  'config',
  'metadata',
  'url',
];
const NEW_FACTOR_FIELDS = [...FACTOR_FIELDS, 'binding', 'options'];
const CHALLENGE_FIELDS = [
  'sid',
  'account_sid',
  'service_sid',
  'entity_sid',
  'identity',
  'factor_sid',
  'date_created',
  'date_updated',
  'date_responded',
  'expiration_date',
  'status',
  'responded_reason',
  'details',
  'hidden_details',
  'metadata',
  'factor_type',
  'url',
  'links',
];

type Json = Record<string, unknown>;
let identities = 0;
const nextIdentity = () => `entity-${++identities}-${Date.now().toString(16)}`;

describe('Twilio stand-in: Entities, TOTP Factors and Challenges', () => {
  let standIn: TwilioStandIn;
  before(async () => {
    standIn = await startTwilioStandIn();
  });
  after(() => standIn.stop());
  afterEach(() => {
    standIn.resetFaults();
    Object.assign(standIn.factors.totp, { skew: 1, allowReplay: false });
  });

  const service = () => `${standIn.url}/v2/Services/${twilioCredentials.serviceSid}`;
  const auth = () =>
    `Basic ${Buffer.from(`${twilioCredentials.accountSid}:${twilioCredentials.authToken}`).toString('base64')}`;

  async function call(method: string, path: string, form?: Record<string, string>, authorization = auth()) {
    const response = await fetch(`${service()}${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as Json };
  }

  /** Moves the stand-in's clock to the middle of the next time step, so no step ends during a check. */
  const midStep = () => standIn.advanceClock(45_000 - (standIn.currentTime() % 30_000));
  const codeFrom = (secret: string, steps = 0) =>
    new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: standIn.currentTime() + steps * 30_000 });

  async function newFactor(identity = nextIdentity(), form: Record<string, string> = {}) {
    const created = await call('POST', `/Entities/${identity}/Factors`, {
      FriendlyName: 'Authenticator app',
      FactorType: 'totp',
      ...form,
    });
    assert.equal(created.status, 201);
    const { secret } = created.body.binding as { secret: string };
    return { identity, sid: created.body.sid as string, secret, body: created.body };
  }

  async function verifiedFactor(form: Record<string, string> = {}) {
    const factor = await newFactor(undefined, form);
    const verified = await call('POST', `/Entities/${factor.identity}/Factors/${factor.sid}`, {
      AuthPayload: codeFrom(factor.secret),
    });
    assert.equal(verified.body.status, 'verified');
    standIn.advanceClock(30_000);
    return factor;
  }

  function assertError(answer: { status: number; body: Json }, status: number, code: number) {
    assert.equal(answer.status, status);
    assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'message', 'more_info', 'status']);
    assert.equal(answer.body.code, code);
    assert.equal(answer.body.status, status);
    assert.equal(answer.body.more_info, `https://www.twilio.com/docs/errors/${code}`);
  }

  it('creates a TOTP factor (201, unverified) with its binding, and never shows the binding again', async () => {
    const { identity, sid, secret, body } = await newFactor();
    assert.deepEqual(Object.keys(body).sort(), [...NEW_FACTOR_FIELDS].sort());
    assert.match(sid, /^YF[0-9a-f]{32}$/);
    assert.match(body.entity_sid as string, /^YE[0-9a-f]{32}$/);
    assert.equal(body.identity, identity);
    assert.equal(body.status, 'unverified');
    assert.equal(body.factor_type, 'totp');
    assert.deepEqual(body.config, { alg: 'sha1', skew: 1, code_length: 6, time_step: 30 });
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const { uri } = body.binding as { uri: string };
    assert.match(uri, /^otpauth:\/\/totp\/Stand-in%20Verify:Authenticator%20app\?/);
    for (const part of [`secret=${secret}`, 'algorithm=SHA1', 'digits=6', 'period=30']) assert.ok(uri.includes(part));

    const fetched = await call('GET', `/Entities/${identity}/Factors/${sid}`);
    assert.equal(fetched.status, 200);
    assert.deepEqual(Object.keys(fetched.body).sort(), [...FACTOR_FIELDS].sort());
    const listed = await call('GET', `/Entities/${identity}/Factors`);
    assert.deepEqual(
      (listed.body.factors as Json[]).map((factor) => factor.sid),
      [sid],
    );

    const entity = await call('GET', `/Entities/${identity}`);
    assert.equal(entity.status, 200, 'creating a factor creates its entity');
    assert.deepEqual(Object.keys(entity.body).sort(), [...ENTITY_FIELDS].sort());
  });

  it('verifies a factor with a right AuthPayload (200, verified); a wrong one leaves it unverified', async () => {
    const { identity, sid, secret } = await newFactor();
    const wrong = await call('POST', `/Entities/${identity}/Factors/${sid}`, { AuthPayload: codeFrom(secret, 10) });
    assert.equal(wrong.status, 200);
    assert.equal(wrong.body.status, 'unverified');
    const right = await call('POST', `/Entities/${identity}/Factors/${sid}`, { AuthPayload: codeFrom(secret) });
    assert.equal(right.status, 200);
    assert.equal(right.body.status, 'verified');
    assert.deepEqual(Object.keys(right.body).sort(), [...FACTOR_FIELDS].sort());
  });

  it('locks a factor after five wrong first codes (60310, 429)', async () => {
    const { identity, sid, secret } = await newFactor();
    for (let i = 0; i < 5; i += 1) {
      await call('POST', `/Entities/${identity}/Factors/${sid}`, { AuthPayload: codeFrom(secret, 10) });
    }
    assertError(
      await call('POST', `/Entities/${identity}/Factors/${sid}`, { AuthPayload: codeFrom(secret) }),
      429,
      60310,
    );
  });

  it('approves a challenge carrying the right code (201) and leaves a wrong one pending', async () => {
    const { identity, sid, secret } = await verifiedFactor();
    const approved = await call('POST', `/Entities/${identity}/Challenges`, {
      FactorSid: sid,
      AuthPayload: codeFrom(secret),
    });
    assert.equal(approved.status, 201);
    assert.deepEqual(Object.keys(approved.body).sort(), [...CHALLENGE_FIELDS].sort());
    assert.match(approved.body.sid as string, /^YC[0-9a-f]{32}$/);
    assert.equal(approved.body.status, 'approved');
    assert.equal(approved.body.factor_type, 'totp');
    assert.equal(approved.body.responded_reason, 'none');
    assert.ok(approved.body.date_responded);

    standIn.advanceClock(30_000);
    const pending = await call('POST', `/Entities/${identity}/Challenges`, {
      FactorSid: sid,
      AuthPayload: codeFrom(secret, 10),
    });
    assert.equal(pending.status, 201);
    assert.equal(pending.body.status, 'pending');
    assert.equal(pending.body.date_responded, null);
    const fetched = await call('GET', `/Entities/${identity}/Challenges/${pending.body.sid as string}`);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body.status, 'pending');
    const updated = await call('POST', `/Entities/${identity}/Challenges/${pending.body.sid as string}`, {
      AuthPayload: codeFrom(secret),
    });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.status, 'approved');
  });

  it('limits wrong codes per challenge (60308, 429) and expires challenges after five minutes (60323, 403)', async () => {
    const { identity, sid, secret } = await verifiedFactor();
    const challenge = await call('POST', `/Entities/${identity}/Challenges`, { FactorSid: sid });
    assert.equal(challenge.body.status, 'pending');
    const path = `/Entities/${identity}/Challenges/${challenge.body.sid as string}`;
    for (let i = 0; i < MAX_CHALLENGE_ATTEMPTS; i += 1) {
      assert.equal((await call('POST', path, { AuthPayload: codeFrom(secret, 10) })).body.status, 'pending');
    }
    assertError(await call('POST', path, { AuthPayload: codeFrom(secret) }), 429, 60308);

    const another = await call('POST', `/Entities/${identity}/Challenges`, { FactorSid: sid });
    standIn.advanceClock(CHALLENGE_DEFAULT_TTL_MS + 1_000);
    const anotherPath = `/Entities/${identity}/Challenges/${another.body.sid as string}`;
    assert.equal((await call('GET', anotherPath)).body.status, 'expired');
    assertError(await call('POST', anotherPath, { AuthPayload: codeFrom(secret) }), 403, 60323);
  });

  it('accepts each code once per factor, unless told to allow replays', async () => {
    const { identity, sid, secret } = await verifiedFactor();
    const code = codeFrom(secret);
    const challenge = (AuthPayload: string) =>
      call('POST', `/Entities/${identity}/Challenges`, { FactorSid: sid, AuthPayload });
    assert.equal((await challenge(code)).body.status, 'approved');
    assert.equal((await challenge(code)).body.status, 'pending');
    await fetch(`${standIn.url}/_stand-in/totp`, {
      method: 'POST',
      body: new URLSearchParams({ allowReplay: 'true' }),
    });
    assert.equal((await challenge(code)).body.status, 'approved');
  });

  it('takes the skew from the factor (Config.Skew) or the service settings', async () => {
    const strict = await verifiedFactor({ 'Config.Skew': '0' });
    midStep();
    const challenge = (factor: { identity: string; sid: string }, AuthPayload: string) =>
      call('POST', `/Entities/${factor.identity}/Challenges`, { FactorSid: factor.sid, AuthPayload });
    assert.equal((await challenge(strict, codeFrom(strict.secret, -1))).body.status, 'pending');
    assert.equal((await challenge(strict, codeFrom(strict.secret))).body.status, 'approved');

    await fetch(`${standIn.url}/_stand-in/totp`, { method: 'POST', body: new URLSearchParams({ skew: '2' }) });
    const lenient = await verifiedFactor();
    assert.equal(standIn.factors.factor(lenient.sid)!.config.skew, 2);
    midStep();
    midStep();
    assert.equal((await challenge(lenient, codeFrom(lenient.secret, -2))).body.status, 'approved');
    assert.equal((await challenge(lenient, codeFrom(lenient.secret, 3))).body.status, 'pending');
  });

  it("answers Twilio's errors: 60318, 60362, 60317, 60200, 20404, 20003, and 204 on delete", async () => {
    const unverified = await newFactor();
    assertError(
      await call('POST', `/Entities/${unverified.identity}/Challenges`, { FactorSid: unverified.sid }),
      403,
      60318,
    );
    assertError(await call('POST', `/Entities/${unverified.identity}/Challenges`, { FactorSid: 'YF123' }), 400, 60362);
    assertError(
      await call('POST', `/Entities/${unverified.identity}/Factors`, {
        FriendlyName: 'Again',
        FactorType: 'totp',
        'Binding.Secret': unverified.secret,
      }),
      409,
      60317,
    );
    assertError(await call('POST', '/Entities/short/Factors', { FriendlyName: 'x', FactorType: 'totp' }), 400, 60200);
    assertError(
      await call('POST', `/Entities/${nextIdentity()}/Factors`, { FriendlyName: 'x', FactorType: 'push' }),
      400,
      60200,
    );
    assertError(await call('GET', `/Entities/${unverified.identity}/Factors/YF${'0'.repeat(32)}`), 404, 20404);
    assertError(await call('GET', `/Entities/${nextIdentity()}/Factors/${unverified.sid}`), 404, 20404);
    assertError(
      await call('GET', `/Entities/${unverified.identity}/Factors/${unverified.sid}`, undefined, 'Basic eDp5'),
      401,
      20003,
    );

    const deleted = await call('DELETE', `/Entities/${unverified.identity}/Factors/${unverified.sid}`);
    assert.equal(deleted.status, 204);
    assertError(await call('DELETE', `/Entities/${unverified.identity}/Factors/${unverified.sid}`), 404, 20404);
    assert.equal((await call('DELETE', `/Entities/${unverified.identity}`)).status, 204);
    assertError(await call('GET', `/Entities/${unverified.identity}`), 404, 20404);
  });

  it('applies the fault switches to factors and challenges too', async () => {
    standIn.faults.rateLimited = true;
    assertError(
      await call('POST', `/Entities/${nextIdentity()}/Factors`, { FriendlyName: 'x', FactorType: 'totp' }),
      429,
      20429,
    );
    standIn.resetFaults();
    standIn.faults.serverError = true;
    assertError(
      await call('POST', `/Entities/${nextIdentity()}/Factors`, { FriendlyName: 'x', FactorType: 'totp' }),
      500,
      20500,
    );
  });
});
