// The JSON API's phone verification over real HTTP, as the tutorials' scripts call it: a code
// sent, a wrong one refused, the right one giving a JWT once, the protected route, revocation,
// bad input, the per-minute limits (in parallel), another service verifying tokens with only the
// JWKS, and Twilio failing (closed). Every response is validated against /api/openapi.json.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import request from 'supertest';
import { setTimeout as sleep } from 'node:timers/promises';
import { appForTests, signIn, strongPassword, submitForm, type TestApp } from '../support/app.js';
import { assertDescribed } from '../support/openapi.js';
import { appOnTwilio, personWithTwoFactor } from '../support/twilio.js';

const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const API_TOKEN_KEYS = `test1:${signingKey.export({ type: 'pkcs8', format: 'der' }).toString('base64')}`;
const ISSUER = 'urn:two-factor-sign-in';
const AUDIENCE = 'urn:two-factor-sign-in:api';

let counter = 0;
/** A French mobile number no other test uses. */
function nextNumber(): string {
  counter += 1;
  return `+3361${String(process.pid % 100).padStart(2, '0')}${String(counter).padStart(5, '0')}`;
}

/** What the API's bodies may hold, as the tests read them. */
interface ApiBody {
  message?: string;
  authenticated?: boolean;
  token?: string;
  phone_number?: string;
  status?: string;
  error?: string;
  error_description?: string;
  request_id?: string;
  success?: boolean;
  sid?: string;
  openapi?: string;
  keys?: Array<Record<string, unknown>>;
}
type ApiResponse = Omit<request.Response, 'body'> & { body: ApiBody };

/** An API client of `app`: each call validated against the OpenAPI document. */
function client(app: () => TestApp) {
  const described = async (
    method: 'GET' | 'POST',
    path: string,
    send: (test: request.Test) => request.Test,
    documented = path,
  ) => {
    const response = (await send(
      method === 'GET' ? request(app().url).get(path) : request(app().url).post(path),
    )) as unknown as ApiResponse;
    assertDescribed(method, documented, response);
    if (response.status >= 400 && response.type === 'application/json')
      assert.equal(response.body.request_id, response.headers['x-request-id'], 'the error names the request');
    return response;
  };
  return {
    post: (path: string, body: unknown, headers: Record<string, string> = {}) =>
      described('POST', path, (test) => test.set(headers).send(body as object)),
    get: (path: string, headers: Record<string, string> = {}) => described('GET', path, (test) => test.set(headers)),
    raw: described,
  };
}

/** The latest code the console provider "sent" to `number`, read off /dev/outbox as a developer would. */
async function outboxCode(app: TestApp, number: string): Promise<string> {
  const page = await request(app.url).get('/dev/outbox').expect(200);
  const rows = page.text.split('<tr>').filter((row) => row.includes(`${number}<`));
  const code = /class="otp">(\d+)</.exec(rows[0] ?? '')?.[1];
  assert.ok(code, `a code went to ${number}`);
  return code;
}

describe('JSON API: phone verification (console provider)', () => {
  const running = appForTests({ env: { API_TOKEN_KEYS, LIMIT_API_PER_MINUTE: '1000' } });
  const app = () => running.app;
  const api = client(app);

  async function verified(number = nextNumber()) {
    const sent = await api.post('/api/auth/send-verification', { phone_number: number });
    assert.equal(sent.status, 200, sent.text);
    const done = await api.post('/api/auth/verify-code', {
      phone_number: number,
      code: await outboxCode(app(), number),
    });
    assert.equal(done.status, 200, done.text);
    return { number, token: done.body.token! };
  }

  it('sends a code, refuses a wrong one, and gives a JWT for the right one', async () => {
    const number = nextNumber();
    const sent = await api.post('/api/auth/send-verification', { phone_number: number });
    assert.equal(sent.status, 200);
    assert.deepEqual(sent.body, { message: 'Verification code sent successfully', status: 'pending' });
    assert.equal(sent.headers['ratelimit-limit'], '1000');

    const code = await outboxCode(app(), number);
    const wrong = await api.post('/api/auth/verify-code', {
      phone_number: number,
      code: code === '000000' ? '111111' : '000000',
    });
    assert.equal(wrong.status, 401);
    assert.deepEqual(
      { ...wrong.body, request_id: undefined },
      { message: 'Invalid verification code', authenticated: false, status: 'pending', request_id: undefined },
    );

    const right = await api.post('/api/auth/verify-code', { phone_number: number, code });
    assert.equal(right.status, 200);
    assert.equal(right.body.message, 'Verification successful');
    assert.equal(right.body.authenticated, true);
    assert.equal(right.body.phone_number, number);
    const header = decodeProtectedHeader(right.body.token!);
    assert.deepEqual(header, { alg: 'ES256', kid: 'test1', typ: 'at+jwt' });
    const claims = decodeJwt(right.body.token!);
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.aud, AUDIENCE);
    assert.equal(claims.sub, number, 'the subject is the verified number');
    assert.deepEqual(claims.amr, ['sms']);
    assert.equal(claims.exp! - claims.iat!, 24 * 3600, 'good for 24 hours');
    assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);

    const issued = await app().services.database.prisma.auditEvent.findFirstOrThrow({
      where: { type: 'token_issued' },
      orderBy: { id: 'desc' },
    });
    assert.equal((issued.detail as { jti?: string }).jti, claims.jti);
    assert.ok(!JSON.stringify(issued.detail).includes(number), 'the audit trail keeps only a hint of the number');
  });

  it('opens the protected route with the token, and refuses missing, malformed, forged and expired ones', async () => {
    const { number, token } = await verified();
    const ok = await api.get('/api/auth/protected', { Authorization: `Bearer ${token}` });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.message, 'This is a protected route');
    assert.equal(ok.body.phone_number, number);

    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const now = Math.floor(Date.now() / 1000);
    const sign = (key = signingKey, { audience = AUDIENCE, expires = now + 3600 } = {}) =>
      new SignJWT({ amr: ['sms'], phone_number: number })
        .setProtectedHeader({ alg: 'ES256', kid: 'test1', typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(audience)
        .setSubject(number)
        .setJti('forged-or-old')
        .setIssuedAt(now - 7200)
        .setExpirationTime(expires)
        .sign(key);
    const [payloadStart] = token.split('.').slice(1);
    const tampered = token.replace(
      payloadStart!,
      Buffer.from(JSON.stringify({ ...decodeJwt(token), sub: '+33600000000' })).toString('base64url'),
    );
    const refusals: Array<[string, Record<string, string>, RegExp]> = [
      ['no header', {}, /is required/],
      ['not Bearer', { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /malformed/],
      ['Bearer alone', { Authorization: 'Bearer' }, /malformed/],
      ['not a JWT', { Authorization: 'Bearer not-a-jwt' }, /malformed/],
      ['a changed payload', { Authorization: `Bearer ${tampered}` }, /not valid/],
      ['another key', { Authorization: `Bearer ${await sign(otherKey)}` }, /not valid/],
      [
        'another audience',
        { Authorization: `Bearer ${await sign(signingKey, { audience: 'someone-else' })}` },
        /not valid/,
      ],
      ['expired', { Authorization: `Bearer ${await sign(signingKey, { expires: now - 60 })}` }, /expired/],
    ];
    // Signed with our own key, so only the claims' types can refuse them.
    const withClaims = (claims: Record<string, unknown>) =>
      new SignJWT({
        amr: ['sms'],
        phone_number: number,
        sub: number,
        jti: 'odd-claims',
        iat: now,
        exp: now + 60,
        ...claims,
      })
        .setProtectedHeader({ alg: 'ES256', kid: 'test1', typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .sign(signingKey);
    const oddClaims: Array<[string, Record<string, unknown>]> = [
      ['a string gen', { phone_number: undefined, gen: '0', sid: '00000000-0000-4000-8000-000000000000' }],
      ['a number for jti', { jti: 42 }],
      ['an exp no date holds', { exp: 9e15 }],
      ['issued an hour from now', { iat: now + 3600, exp: now + 7200 }],
      ['no amr', { amr: undefined }],
      ['neither a number nor an account', { phone_number: undefined }],
    ];
    for (const [what, claims] of oddClaims) {
      const odd = await withClaims(claims);
      refusals.push([what, { Authorization: `Bearer ${odd}` }, /not valid/]);
      const revoked = await api.post('/api/auth/revoke', { token: odd });
      assert.equal(revoked.status, 200, `revoking a token with ${what} answers as for any string`);
    }
    for (const [what, headers, description] of refusals) {
      const refused = await api.get('/api/auth/protected', headers);
      assert.equal(refused.status, 401, what);
      assert.match(String(refused.headers['www-authenticate']), /^Bearer error="invalid_token"/, what);
      assert.equal(refused.body.error, 'invalid_token', what);
      assert.match(String(refused.body.error_description), description, what);
    }
  });

  it('gives one token per code, however many requests bring it at once', async () => {
    const number = nextNumber();
    await api.post('/api/auth/send-verification', { phone_number: number });
    const code = await outboxCode(app(), number);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => api.post('/api/auth/verify-code', { phone_number: number, code })),
    );
    const statuses = answers.map((answer) => answer.status);
    assert.equal(statuses.filter((status) => status === 200).length, 1, statuses.join(' '));
    const again = await api.post('/api/auth/verify-code', { phone_number: number, code });
    assert.ok([404, 410].includes(again.status), `used up: ${again.status}`);
    assert.equal(again.body.authenticated, false);
  });

  it('revokes a token: the protected route refuses it, and any string gets the same 200', async () => {
    const { token } = await verified();
    const revoked = await api.post('/api/auth/revoke', { token });
    assert.equal(revoked.status, 200);
    assert.deepEqual(revoked.body, {});
    const refused = await api.get('/api/auth/protected', { Authorization: `Bearer ${token}` });
    assert.equal(refused.status, 401);
    assert.match(String(refused.body.error_description), /revoked/);
    assert.equal((await api.post('/api/auth/revoke', { token: 'not a token of ours' })).status, 200);
    assert.equal((await api.post('/api/auth/revoke', {})).status, 400);
  });

  it('lets another service verify a token with only the public keys at /.well-known/jwks.json', async () => {
    const { number, token } = await verified();
    const jwks = await api.get('/.well-known/jwks.json');
    assert.equal(jwks.status, 200);
    assert.equal(jwks.body.keys?.length, 1);
    assert.equal(jwks.body.keys?.[0]?.d, undefined, 'no private part');
    const remote = createRemoteJWKSet(new URL(`${app().url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(token, remote, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'] });
    assert.equal(payload.sub, number);
  });

  it('answers the send-otp / verify-otp shape too', async () => {
    const number = nextNumber();
    const sent = await api.post('/api/auth/send-otp', { phoneNumber: number });
    assert.equal(sent.status, 200);
    assert.equal(sent.body.success, true);
    assert.equal(typeof sent.body.sid, 'string');
    const wrong = await api.post('/api/auth/verify-otp', { phoneNumber: number, code: '000001' });
    assert.equal(wrong.status, 401);
    assert.deepEqual(
      { ...wrong.body, request_id: undefined },
      { success: false, error: 'Invalid code', request_id: undefined },
    );
    const right = await api.post('/api/auth/verify-otp', {
      phoneNumber: number,
      code: await outboxCode(app(), number),
    });
    assert.equal(right.status, 200);
    assert.deepEqual(right.body, { success: true, message: 'Identity Verified' });
  });

  it('reads a number in its one canonical spelling: +33 0 6… is +33 6…, for limits and the token alike', async () => {
    const number = nextNumber();
    const withTrunkZero = number.replace('+33', '+330');
    assert.equal((await api.post('/api/auth/send-verification', { phone_number: withTrunkZero })).status, 200);
    const again = await api.post('/api/auth/send-verification', { phone_number: number });
    assert.equal(again.status, 429, 'the same number, still cooling down');
    const done = await api.post('/api/auth/verify-code', {
      phone_number: withTrunkZero,
      code: await outboxCode(app(), number),
    });
    assert.equal(done.status, 200);
    assert.equal(done.body.phone_number, number);
    assert.equal(decodeJwt(done.body.token!).sub, number);
  });

  it('refuses bad input with a clear 4xx in JSON, sending nothing', async () => {
    const before = (await request(app().url).get('/dev/outbox')).text.split('class="otp"').length;
    const bad: Array<[string, unknown, number, RegExp]> = [
      ['a national number', { phone_number: '0612345678' }, 400, /E\.164/],
      ['spaces', { phone_number: '+33 6 12 34 56 78' }, 400, /E\.164/],
      ['letters', { phone_number: '+3361234567a' }, 400, /E\.164/],
      ['a number that cannot exist', { phone_number: '+99912345678' }, 400, /valid phone number/],
      ['a French number too short', { phone_number: '+3361234567' }, 400, /valid phone number/],
      ['a number as JSON number', { phone_number: 33612345678 }, 400, /phone_number is required/],
      ['no field', {}, 400, /phone_number is required/],
      ['an array', [{ phone_number: '+33612345678' }], 400, /must be a JSON object/],
      ['a huge string', { phone_number: `+33${'6'.repeat(5000)}` }, 400, /too long/],
    ];
    for (const [what, body, status, message] of bad) {
      const refused = await api.post('/api/auth/send-verification', body);
      assert.equal(refused.status, status, what);
      assert.match(String(refused.body.message), message, what);
    }
    const notJson = await api.raw('POST', '/api/auth/send-verification', (test) =>
      test.set('Content-Type', 'application/json').send('{"phone_number": "+33612345678",}'),
    );
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error, 'invalid_json');
    const form = await api.raw('POST', '/api/auth/send-verification', (test) =>
      test.type('form').send({ phone_number: '+33612345678' }),
    );
    assert.equal(form.status, 415);
    const tooLarge = await api.raw('POST', '/api/auth/send-verification', (test) =>
      test.set('Content-Type', 'application/json').send(JSON.stringify({ padding: 'x'.repeat(20_000) })),
    );
    assert.equal(tooLarge.status, 413);
    const after = (await request(app().url).get('/dev/outbox')).text.split('class="otp"').length;
    assert.equal(after, before, 'no code went out');

    const unknown = await request(app().url).get('/api/no-such-thing');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.type, 'application/json');
    assert.equal((unknown.body as ApiBody).request_id, unknown.headers['x-request-id']);
    const noCode = await api.post('/api/auth/verify-code', { phone_number: nextNumber(), code: '123456' });
    assert.equal(noCode.status, 404);
    const malformed = await api.post('/api/auth/verify-code', { phone_number: nextNumber(), code: 'abc' });
    assert.equal(malformed.status, 400);
  });

  it('serves its OpenAPI document, never cached, with no cookie set anywhere under /api', async () => {
    const document = await api.get('/api/openapi.json');
    assert.equal(document.status, 200);
    assert.equal(document.body.openapi, '3.1.0');
    assert.equal(document.headers['cache-control'], 'no-store');
    const sent = await api.post('/api/auth/send-verification', { phone_number: nextNumber() });
    assert.equal(sent.headers['set-cookie'], undefined);
  });
});

describe('JSON API: limits of 5 a minute per IP and per number', () => {
  // Behind a proxy the client's address comes from X-Forwarded-For: each test speaks from its own.
  const running = appForTests({ env: { API_TOKEN_KEYS, TRUST_PROXY: 'true' } });
  const api = client(() => running.app);
  let addresses = 0;
  const nextAddress = () => `198.51.100.${(addresses += 1)}`;

  it('lets 5 of 8 parallel requests from one address through, and says when to come back', async () => {
    const from = { 'X-Forwarded-For': nextAddress() };
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => api.post('/api/auth/send-verification', { phone_number: nextNumber() }, from)),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    const refused = answers.find((answer) => answer.status === 429)!;
    assert.ok(Number(refused.headers['retry-after']) > 0);
    assert.equal(refused.headers['ratelimit-remaining'], '0');
    assert.match(String(refused.body.message), /Too many requests/);
  });

  it('counts per number across addresses, checks included', async () => {
    const number = nextNumber();
    const answers = await Promise.all(
      Array.from({ length: 7 }, () =>
        api.post(
          '/api/auth/verify-code',
          { phone_number: number, code: '123456' },
          { 'X-Forwarded-For': nextAddress() },
        ),
      ),
    );
    assert.equal(answers.filter((answer) => answer.status === 429).length, 2, answers.map((a) => a.status).join(' '));
  });
});

describe('JSON API: phone verification on Twilio', () => {
  const twilio = appOnTwilio({ env: { API_TOKEN_KEYS, LIMIT_API_PER_MINUTE: '1000' } });
  const api = client(() => twilio.app);

  it('sends through Twilio Verify, answers its SID, and verifies the code it sent', async () => {
    const number = nextNumber();
    const sent = await api.post('/api/auth/send-otp', { phoneNumber: number });
    assert.equal(sent.status, 200);
    assert.match(String(sent.body.sid), /^VE[0-9a-f]{32}$/);
    const done = await api.post('/api/auth/verify-code', {
      phone_number: number,
      code: twilio.standIn.lastCodeFor(number)!,
    });
    assert.equal(done.status, 200);
  });

  it('calls a landline instead, and the token says so (amr tel)', async () => {
    const landline = '+442079460958';
    const sent = await api.post('/api/auth/send-verification', { phone_number: landline });
    assert.equal(sent.status, 200);
    assert.equal(twilio.standIn.outbox.at(-1)?.channel, 'call');
    const done = await api.post('/api/auth/verify-code', {
      phone_number: landline,
      code: twilio.standIn.lastCodeFor(landline)!,
    });
    assert.equal(done.status, 200);
    assert.deepEqual(decodeJwt(done.body.token!).amr, ['tel']);
  });

  it('fails closed when Twilio is down: 503 to send, 503 to check, no token, no wrong code counted', async () => {
    const number = nextNumber();
    await api.post('/api/auth/send-verification', { phone_number: number });
    const code = twilio.standIn.lastCodeFor(number)!;
    twilio.standIn.faults.down = true;
    try {
      const send = await api.post('/api/auth/send-verification', { phone_number: nextNumber() });
      assert.equal(send.status, 503);
      const check = await api.post('/api/auth/verify-code', { phone_number: number, code });
      assert.equal(check.status, 503);
      for (const answer of [send, check])
        assert.ok(Number(answer.headers['retry-after']) > 0, 'says when to come back');
      assert.equal(check.body.authenticated, false);
      assert.equal(check.body.token, undefined);
    } finally {
      twilio.standIn.resetFaults();
    }
    const done = await api.post('/api/auth/verify-code', { phone_number: number, code });
    assert.equal(done.status, 200, 'once Twilio is back, the same code works');
  });
});

describe('JSON API: a code budget of its own', () => {
  // Two codes a number a day, one second between resends: the budget runs out in seconds.
  const twilio = appOnTwilio({
    env: {
      API_TOKEN_KEYS,
      LIMIT_API_PER_MINUTE: '1000',
      LIMIT_CODES_PER_10_MINUTES: '2',
      LIMIT_CODES_PER_DAY: '2',
      CODE_RESEND_SECONDS: '1',
    },
  });
  const api = client(() => twilio.app);

  it("a stranger verifying someone's number through the API leaves the texts they sign in with", async () => {
    const number = nextNumber();
    const person = await personWithTwoFactor(twilio, number);
    const answers: number[] = [];
    for (let send = 0; send < 3; send += 1) {
      answers.push((await api.post('/api/auth/send-verification', { phone_number: number })).status);
      await sleep(1100);
    }
    assert.deepEqual(answers, [200, 200, 429], "the API's own budget for the number runs out");

    const sentBefore = twilio.standIn.outbox.length;
    const agent = twilio.app.agent();
    assert.equal((await signIn(agent, person.email, strongPassword)).headers.location, '/login/2fa');
    assert.equal(twilio.standIn.outbox.length, sentBefore + 1, 'the sign-in code still goes out');
    const done = await submitForm(agent, '/login/2fa', '/login/2fa', { code: twilio.standIn.lastCodeFor(number)! });
    assert.equal(done.status, 303);
    assert.equal(done.headers.location, '/account');
  });
});

describe('JSON API: verifications of its own', () => {
  const twilio = appOnTwilio({ env: { API_TOKEN_KEYS, LIMIT_API_PER_MINUTE: '1000' } });
  const api = client(() => twilio.app);

  it("a stranger's send and wrong codes through the API leave the code its owner is signing in with", async () => {
    const number = nextNumber();
    const person = await personWithTwoFactor(twilio, number);
    const agent = twilio.app.agent();
    assert.equal((await signIn(agent, person.email, strongPassword)).headers.location, '/login/2fa');
    const ownersCode = twilio.standIn.lastCodeFor(number)!;

    assert.equal((await api.post('/api/auth/send-verification', { phone_number: number })).status, 200);
    const strangersCode = twilio.standIn.lastCodeFor(number)!;
    const wrong = ['000000', '111111', '222222', '333333', '444444', '555555'].filter(
      (code) => code !== ownersCode && code !== strangersCode,
    );
    for (const code of wrong.slice(0, 5)) await api.post('/api/auth/verify-code', { phone_number: number, code });

    const done = await submitForm(agent, '/login/2fa', '/login/2fa', { code: ownersCode });
    assert.equal(done.status, 303, 'the owner signs in with their code');
    assert.equal(done.headers.location, '/account');
  });
});

describe('JSON API: CORS', () => {
  const running = appForTests({ env: { API_TOKEN_KEYS, API_CORS_ORIGINS: 'https://app.example.com' } });

  it('answers an allowed origin with CORS headers and any other with none', async () => {
    const allowed = await request(running.app.url)
      .options('/api/auth/send-verification')
      .set('Origin', 'https://app.example.com')
      .set('Access-Control-Request-Method', 'POST');
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(allowed.headers['access-control-allow-headers']), /Authorization/);
    const other = await request(running.app.url)
      .options('/api/auth/send-verification')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'POST');
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const jwks = await request(running.app.url).get('/.well-known/jwks.json').set('Origin', 'https://evil.example');
    assert.equal(jwks.status, 200);
  });
});
