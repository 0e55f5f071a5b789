// Account sign-in through the JSON API over real HTTP, in Auth0's MFA API shape: the password
// grant, mfa_required and its single-use mfa_token, the authenticators, a challenge by text,
// the mfa grants (oob, otp, recovery code), refresh tokens rotated with reuse detection,
// revocation, and "sign out everywhere" ending API tokens too. Every response is validated
// against /api/openapi.json.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import request from 'supertest';
import {
  confirmPassword,
  csrfTokenIn,
  signUp,
  strongPassword,
  submitForm,
  uniqueEmail,
  type Agent,
} from '../support/app.js';
import { runScript } from '../support/processes.js';
import { assertDescribed } from '../support/openapi.js';
import { appOnTwilio, turnOnTwoFactor } from '../support/twilio.js';
import { codeFor, openSetup, roomInStep } from '../totp/support.js';

const API_TOKEN_KEYS = `acct1:${generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'der' })
  .toString('base64')}`;

interface Body {
  access_token?: string;
  refresh_token?: string;
  token_type?: string;
  expires_in?: number;
  error?: string;
  error_description?: string;
  mfa_token?: string;
  oob_code?: string;
  challenge_type?: string;
  sub?: string;
}
type Answer = Omit<request.Response, 'body'> & { body: Body };

let numbers = 0;
const nextMobile = () =>
  `+3361299${String(process.pid % 100).padStart(2, '0')}${String((numbers += 1)).padStart(2, '0')}`;

describe('JSON API: account sign-in with an MFA step', () => {
  // Local authenticator apps, so codes are computed on this machine's clock.
  // The database behind a proxy a test can cut.
  const twilio = appOnTwilio({
    env: { API_TOKEN_KEYS, TOTP_PROVIDER: 'local', LIMIT_WRONG_CODES_PER_USER: '4' },
    proxyDatabase: true,
  });
  const prisma = () => twilio.app.services.database.prisma;

  async function call(method: 'GET' | 'POST', path: string, body?: object, headers: Record<string, string> = {}) {
    const test = method === 'GET' ? request(twilio.app.url).get(path) : request(twilio.app.url).post(path).send(body);
    const response = (await test.set(headers)) as unknown as Answer;
    assertDescribed(method, path, response);
    return response;
  }
  const token = (body: object) => call('POST', '/api/auth/token', body);
  const password = (email: string, secret = strongPassword) =>
    token({ grant_type: 'password', email, password: secret });

  /** A person with a phone and recovery codes (and, when asked, an authenticator app); the codes they were shown. */
  async function personWithTwoFactor(options: { app?: boolean } = {}) {
    const agent = twilio.app.agent();
    const { email } = await signUp(agent);
    const phone = nextMobile();
    await turnOnTwoFactor(agent, twilio.standIn, phone);
    const shown = await agent.get('/account/recovery-codes').expect(200);
    const recoveryCodes = [...shown.text.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((match) => match[1]!);
    let key: string | undefined;
    if (options.app) {
      const setup = await openSetup(agent);
      key = setup.key;
      const done = await submitForm(agent, '/account/totp', '/account/totp', {
        code: codeFor(key, await roomInStep()),
      });
      assert.equal(done.status, 303);
    }
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    return { email, phone, agent, recoveryCodes, key, user };
  }

  async function mfaRequired(email: string): Promise<string> {
    const answer = await password(email);
    assert.equal(answer.status, 403, answer.text);
    assert.equal(answer.body.error, 'mfa_required');
    return answer.body.mfa_token!;
  }

  /** Sends a code by text for the mfa_token and answers the challenge's oob_code. */
  async function challengeSms(mfaToken: string): Promise<string> {
    const list = await call('GET', '/api/auth/mfa/authenticators', undefined, { Authorization: `Bearer ${mfaToken}` });
    const sms = (list.body as unknown as Array<{ id: string; oob_channel?: string }>).find(
      (a) => a.oob_channel === 'sms',
    );
    assert.ok(sms);
    const challenged = await call('POST', '/api/auth/mfa/challenge', { mfa_token: mfaToken, authenticator_id: sms.id });
    assert.equal(challenged.status, 200, challenged.text);
    assert.equal(challenged.body.challenge_type, 'oob');
    return challenged.body.oob_code!;
  }

  it('gives tokens for a password alone without 2FA, and the same refusal for a wrong password or an unknown email', async () => {
    const { email } = await signUp(twilio.app.agent());
    const signedIn = await password(email);
    assert.equal(signedIn.status, 200);
    assert.equal(signedIn.body.token_type, 'Bearer');
    assert.equal(signedIn.body.expires_in, 15 * 60);
    const claims = decodeJwt(signedIn.body.access_token!);
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    assert.equal(claims.sub, user.id, "an account token's subject is the user id");
    assert.deepEqual(claims.amr, ['pwd']);
    const opened = await call('GET', '/api/auth/protected', undefined, {
      Authorization: `Bearer ${signedIn.body.access_token}`,
    });
    assert.equal(opened.status, 200);
    assert.equal(opened.body.sub, user.id);

    const wrong = await password(email, 'not the password at all');
    const unknown = await password('nobody-here@example.com', 'not the password at all');
    assert.equal(wrong.status, 400);
    assert.deepEqual(
      [wrong.body.error, wrong.body.error_description],
      [unknown.body.error, unknown.body.error_description],
    );
    const event = await prisma().auditEvent.findFirstOrThrow({
      where: { userId: user.id, type: 'sign_in', outcome: 'ok' },
      orderBy: { id: 'desc' },
    });
    assert.deepEqual(event.detail, { method: 'password', through: 'api' });
  });

  it('asks for MFA, sends no code until challenged, and signs in with the code sent by text', async () => {
    const person = await personWithTwoFactor();
    const sentBefore = twilio.standIn.outbox.length;
    const mfaToken = await mfaRequired(person.email);
    assert.equal(twilio.standIn.outbox.length, sentBefore, 'the password alone sends nothing');

    const list = await call('GET', '/api/auth/mfa/authenticators', undefined, { Authorization: `Bearer ${mfaToken}` });
    assert.equal(list.status, 200);
    const kinds = (list.body as unknown as Array<{ authenticator_type: string; oob_channel?: string }>).map(
      (a) => `${a.authenticator_type}${a.oob_channel ? `/${a.oob_channel}` : ''}`,
    );
    assert.deepEqual(kinds.sort(), ['oob/sms', 'oob/voice', 'recovery-code']);

    const oobCode = await challengeSms(mfaToken);
    assert.equal(twilio.standIn.outbox.at(-1)?.to, person.phone);
    const wrong = await token({
      grant_type: 'mfa-oob',
      mfa_token: mfaToken,
      oob_code: oobCode,
      binding_code: '000000',
    });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'invalid_grant');
    const done = await token({
      grant_type: 'http://auth0.com/oauth/grant-type/mfa-oob',
      mfa_token: mfaToken,
      oob_code: oobCode,
      binding_code: twilio.standIn.lastCodeFor(person.phone)!,
    });
    assert.equal(done.status, 200, done.text);
    assert.deepEqual(decodeJwt(done.body.access_token!).amr, ['pwd', 'mfa', 'sms']);

    const again = await token({
      grant_type: 'mfa-oob',
      mfa_token: mfaToken,
      oob_code: oobCode,
      binding_code: '123456',
    });
    assert.equal(again.status, 400, 'the mfa_token was used');
    assert.match(again.body.error_description!, /mfa_token/);
  });

  it('lets one of several parallel grants with the same mfa_token and code through', async () => {
    const person = await personWithTwoFactor();
    const mfaToken = await mfaRequired(person.email);
    const oobCode = await challengeSms(mfaToken);
    const code = twilio.standIn.lastCodeFor(person.phone)!;
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        token({ grant_type: 'mfa-oob', mfa_token: mfaToken, oob_code: oobCode, binding_code: code }),
      ),
    );
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 400, 400, 400, 400]);
  });

  it('refuses an mfa_token past its lifetime, even with the right code', async () => {
    const person = await personWithTwoFactor();
    const mfaToken = await mfaRequired(person.email);
    const oobCode = await challengeSms(mfaToken);
    const code = twilio.standIn.lastCodeFor(person.phone)!;
    // Ten minutes and a second later, as the clock would have it.
    await prisma().apiMfaSession.updateMany({
      where: { userId: person.user.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const listed = await call('GET', '/api/auth/mfa/authenticators', undefined, {
      Authorization: `Bearer ${mfaToken}`,
    });
    assert.equal(listed.status, 401);
    const late = await token({ grant_type: 'mfa-oob', mfa_token: mfaToken, oob_code: oobCode, binding_code: code });
    assert.equal(late.status, 400);
    assert.equal(late.body.error, 'invalid_grant');
    assert.match(late.body.error_description!, /expired/);
    assert.equal(late.body.access_token, undefined);
  });

  it('fails closed when Twilio is down: 503 with Retry-After, no tokens, and the sign-in goes on once it is back', async () => {
    const person = await personWithTwoFactor();
    const mfaToken = await mfaRequired(person.email);
    const phoneId = (await prisma().userFactor.findFirstOrThrow({ where: { userId: person.user.id, kind: 'phone' } }))
      .id;
    twilio.standIn.faults.down = true;
    try {
      const challenge = await call('POST', '/api/auth/mfa/challenge', {
        mfa_token: mfaToken,
        authenticator_id: `sms|${phoneId}`,
      });
      assert.equal(challenge.status, 503);
      assert.equal(challenge.body.error, 'temporarily_unavailable');
      assert.match(challenge.body.error_description!, /could not confirm/);
      assert.ok(Number(challenge.headers['retry-after']) > 0);
    } finally {
      twilio.standIn.resetFaults();
    }
    // The text may still arrive, so the text channel cools down; a call is another channel.
    const call_ = await call('POST', '/api/auth/mfa/challenge', {
      mfa_token: mfaToken,
      authenticator_id: `voice|${phoneId}`,
    });
    assert.equal(call_.status, 200, call_.text);
    const code = twilio.standIn.lastCodeFor(person.phone)!;
    const grant = { grant_type: 'mfa-oob', mfa_token: mfaToken, oob_code: call_.body.oob_code, binding_code: code };
    twilio.standIn.faults.serverError = true;
    try {
      const check = await token(grant);
      assert.equal(check.status, 503);
      assert.ok(Number(check.headers['retry-after']) > 0);
      assert.equal(check.body.access_token, undefined);
    } finally {
      twilio.standIn.resetFaults();
    }
    const done = await token(grant);
    assert.equal(done.status, 200, 'the same mfa_token and code work once Twilio is back');
    assert.deepEqual(decodeJwt(done.body.access_token!).amr, ['pwd', 'mfa', 'tel']);
  });

  it('fails closed when the database is away: a calm 503 in JSON, and no token opens anything', async () => {
    const { email } = await signUp(twilio.app.agent());
    const signedIn = await password(email);
    const bearer = { Authorization: `Bearer ${signedIn.body.access_token}` };
    twilio.app.databaseProxy!.down();
    try {
      for (const answer of [
        await password(email),
        await call('GET', '/api/auth/protected', undefined, bearer),
        await token({ grant_type: 'refresh_token', refresh_token: signedIn.body.refresh_token }),
      ]) {
        assert.equal(answer.status, 503, answer.text);
        assert.equal(answer.type, 'application/json');
        assert.ok(Number(answer.headers['retry-after']) > 0);
        assert.equal(answer.body.access_token, undefined);
        assert.doesNotMatch(answer.text, /at .*\.ts:\d+|prisma/i, 'no stack, no internals');
      }
    } finally {
      twilio.app.databaseProxy!.up();
    }
    assert.equal((await call('GET', '/api/auth/protected', undefined, bearer)).status, 200);
  });

  it('signs in with the authenticator app (mfa-otp) and with a recovery code, once', async () => {
    const person = await personWithTwoFactor({ app: true });
    const step = await roomInStep();
    const byApp = await token({
      grant_type: 'mfa-otp',
      mfa_token: await mfaRequired(person.email),
      otp: codeFor(person.key!, step + 1),
    });
    assert.equal(byApp.status, 200, byApp.text);
    assert.deepEqual(decodeJwt(byApp.body.access_token!).amr, ['pwd', 'mfa', 'otp']);

    const code = person.recoveryCodes[0]!;
    const byCode = await token({
      grant_type: 'mfa-recovery-code',
      mfa_token: await mfaRequired(person.email),
      recovery_code: code,
    });
    assert.equal(byCode.status, 200, byCode.text);
    const reused = await token({
      grant_type: 'mfa-recovery-code',
      mfa_token: await mfaRequired(person.email),
      recovery_code: code,
    });
    assert.equal(reused.status, 400, 'a recovery code works once');
  });

  it('counts wrong codes in the same lock as the pages', async () => {
    const person = await personWithTwoFactor({ app: true });
    const mfaToken = await mfaRequired(person.email);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1)
      statuses.push((await token({ grant_type: 'mfa-otp', mfa_token: mfaToken, otp: '000000' })).status);
    assert.deepEqual(statuses, [400, 400, 400, 400, 429], 'LIMIT_WRONG_CODES_PER_USER=4 here');
    const page = twilio.app.agent();
    await submitForm(page, '/login', '/login', { email: person.email, password: strongPassword });
    const locked = await submitForm(page, '/login/2fa', '/login/2fa', { code: '111111' });
    assert.equal(locked.status, 429, 'the pages are locked too');
  });

  it('rotates refresh tokens, and a reused one revokes the whole family, access tokens included', async () => {
    const { email } = await signUp(twilio.app.agent());
    const first = await password(email);
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    assert.equal(second.status, 200);
    assert.notEqual(second.body.refresh_token, first.body.refresh_token);
    const stolen = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    assert.equal(stolen.status, 400, 'an old refresh token is refused');
    const family = await token({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token });
    assert.equal(family.status, 400, "and its family's newer one with it");
    for (const issued of [first, second]) {
      const opened = await call('GET', '/api/auth/protected', undefined, {
        Authorization: `Bearer ${issued.body.access_token}`,
      });
      assert.equal(opened.status, 401, "and the family's access tokens");
      assert.match(opened.body.error_description!, /revoked/);
    }
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    assert.equal(
      await prisma().auditEvent.count({ where: { userId: user.id, type: 'token_revoked', outcome: 'reuse_detected' } }),
      1,
    );
    // Form-encoded, as RFC 6749 clients send it, works too.
    const again = await request(twilio.app.url)
      .post('/api/auth/token')
      .type('form')
      .send({ grant_type: 'password', email, password: strongPassword });
    assert.equal(again.status, 200);
    const revoked = await call('POST', '/api/auth/revoke', { token: (again.body as Body).refresh_token });
    assert.equal(revoked.status, 200);
    assert.equal(
      await prisma().auditEvent.count({ where: { userId: user.id, type: 'token_revoked', outcome: 'ok' } }),
      1,
      "the revocation is in the owner's trail",
    );
    const ended = await call('GET', '/api/auth/protected', undefined, {
      Authorization: `Bearer ${(again.body as Body).access_token}`,
    });
    assert.equal(ended.status, 401, 'revoking the refresh token ends its access tokens too');
    assert.equal(
      (await token({ grant_type: 'refresh_token', refresh_token: (again.body as Body).refresh_token })).status,
      400,
    );
  });

  it('leaves no working refresh token when a refresh races its own reuse, or a revocation', async () => {
    const { email } = await signUp(twilio.app.agent());
    for (let round = 0; round < 8; round += 1) {
      const first = await password(email);
      const racing =
        round % 2 === 0
          ? [
              token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token }),
              token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token }),
            ]
          : [
              token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token }),
              call('POST', '/api/auth/revoke', { token: first.body.refresh_token }),
            ];
      const answers = await Promise.all(racing);
      for (const answer of answers.filter((a) => a.body.refresh_token)) {
        const after = await token({ grant_type: 'refresh_token', refresh_token: answer.body.refresh_token });
        assert.equal(after.status, 400, `round ${round}: the token a racing refresh got is revoked with its family`);
      }
    }
  });

  it('"Sign out everywhere" ends API access and refresh tokens too', async () => {
    const agent: Agent = twilio.app.agent();
    const { email } = await signUp(agent);
    const tokens = await password(email);
    const bearer = { Authorization: `Bearer ${tokens.body.access_token}` };
    assert.equal((await call('GET', '/api/auth/protected', undefined, bearer)).status, 200);
    assert.equal((await submitForm(agent, '/account', '/account/sign-out-everywhere', {})).status, 303);
    const refused = await call('GET', '/api/auth/protected', undefined, bearer);
    assert.equal(refused.status, 401);
    assert.match(refused.body.error_description!, /revoked/);
    assert.equal((await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token })).status, 400);
  });

  it('revokes an access token once, audited once however often it is sent, and answers 200 for a deleted account too', async () => {
    const browser = twilio.app.agent();
    const { email } = await signUp(browser);
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    const first = (await password(email)).body;
    const again = await Promise.all(
      [1, 2, 3, 4].map(() => call('POST', '/api/auth/revoke', { token: first.access_token })),
    );
    for (const answer of again) assert.equal(answer.status, 200);
    assert.equal(await prisma().auditEvent.count({ where: { userId: user.id, type: 'token_revoked' } }), 1);

    // The account goes; a token it held is still answered as any string is: 200, nothing said.
    const second = (await password(email)).body;
    await confirmPassword(browser);
    const page = await browser.get('/account/delete').expect(200);
    const deleted = await browser
      .post('/account/delete')
      .type('form')
      .send({ confirmation: email, _csrf: csrfTokenIn(page.text) });
    assert.equal(deleted.status, 303);
    assert.equal(await prisma().user.count({ where: { id: user.id } }), 0);
    const revoked = await call('POST', '/api/auth/revoke', { token: second.access_token });
    assert.equal(revoked.status, 200);
    assert.deepEqual(revoked.body, {});
  });

  it("an admin's lock ends the account's API tokens", async () => {
    const adminEmail = uniqueEmail('api-admin');
    const made = await runScript('src/cli/admin-create.ts', [adminEmail], {
      DATABASE_URL: twilio.app.databaseUrl,
      ADMIN_PASSWORD: strongPassword,
    });
    assert.equal(made.code, 0, made.output);
    const admin = twilio.app.agent();
    await submitForm(admin, '/login', '/login', { email: adminEmail, password: strongPassword });
    await confirmPassword(admin);

    const { email } = await signUp(twilio.app.agent());
    const tokens = await password(email);
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    const confirm = await admin.get(`/admin/users/${user.id}/lock`).expect(200);
    const locked = await admin
      .post(`/admin/users/${user.id}/lock`)
      .type('form')
      .send({
        _csrf: csrfTokenIn(confirm.text),
        confirmation: /name="confirmation" value="([^"]+)"/.exec(confirm.text)?.[1] ?? '',
      });
    assert.equal(locked.status, 303);
    const refused = await call('GET', '/api/auth/protected', undefined, {
      Authorization: `Bearer ${tokens.body.access_token}`,
    });
    assert.equal(refused.status, 401);
    assert.equal((await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token })).status, 400);
    assert.equal((await password(email)).body.error, 'invalid_grant', 'and no new ones');
  });

  it('refuses a form with too many fields with a JSON 413, and writes no password to the log', async () => {
    const fields = Array.from({ length: 25 }, (_, i) => `p${i}=1`).join('&');
    const refused = await request(twilio.app.url)
      .post('/api/auth/token')
      .type('form')
      .send(`grant_type=password&email=someone%40example.com&password=HunterSecret2Pw&${fields}`);
    assert.equal(refused.status, 413);
    assert.equal(refused.type, 'application/json');
    assert.equal((refused.body as Body).error, 'too_large');
  });

  it('refuses unknown grants and missing fields in the OAuth shape', async () => {
    const unknown = await token({ grant_type: 'client_credentials' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'unsupported_grant_type');
    const missing = await token({ grant_type: 'mfa-otp', mfa_token: 'x' });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'invalid_request');
    const forged = await token({ grant_type: 'mfa-otp', mfa_token: 'not-a-real-mfa-token', otp: '123456' });
    assert.equal(forged.status, 400);
    assert.equal(forged.body.error, 'invalid_grant');
    const noBearer = await call('GET', '/api/auth/mfa/authenticators');
    assert.equal(noBearer.status, 401);
  });
});
