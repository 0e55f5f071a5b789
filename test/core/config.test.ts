import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../src/config.js';

const goodSecret = 'k4T9wq0s1ZxYvB7nQm3LpR8uE2hJ6cDf';
const tokenKey = (curve = 'P-256') =>
  generateKeyPairSync('ec', { namedCurve: curve })
    .privateKey.export({ type: 'pkcs8', format: 'der' })
    .toString('base64');
const production = {
  NODE_ENV: 'production',
  SESSION_SECRET: goodSecret,
  DATABASE_URL: 'postgresql://app@db.internal:5432/app',
  REDIS_URL: 'redis://cache.internal:6379',
  TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
  TWILIO_API_KEY_SID: `SK${'b'.repeat(32)}`,
  TWILIO_API_KEY_SECRET: 'an-api-key-secret',
  TWILIO_VERIFY_SERVICE_SID: `VA${'c'.repeat(32)}`,
  TWILIO_API_VERIFY_SERVICE_SID: `VA${'d'.repeat(32)}`,
  TOTP_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  API_TOKEN_KEYS: `api1:${tokenKey()}`,
  SMTP_URL: 'smtp://mailer:secret@smtp.internal:587',
  MAIL_FROM: 'Example <no-reply@example.com>',
  PUBLIC_URL: 'https://app.example.com',
  PASSKEY_RP_ID: 'example.com',
  PASSKEY_ORIGINS: 'https://app.example.com',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  return [];
}

describe('configuration', () => {
  it('starts with no configuration at all on embedded defaults', () => {
    const config = loadConfig({});
    assert.equal(config.env, 'development');
    assert.equal(config.port, 3000);
    assert.equal(config.database.url, undefined);
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.session.secretIsEphemeral, true);
    assert.ok(config.session.secrets[0].length >= 32);
    assert.equal(config.session.secureCookie, false);
    assert.equal(config.session.passwordConfirmationMs, 5 * 60_000);
  });

  it('logs readable lines in development and JSON lines in production and tests, unless LOG_FORMAT says', () => {
    assert.equal(loadConfig({}).logFormat, 'pretty');
    assert.equal(loadConfig(production).logFormat, 'json');
    assert.equal(loadConfig({ NODE_ENV: 'test' }).logFormat, 'json');
    assert.equal(loadConfig({ LOG_FORMAT: 'json' }).logFormat, 'json');
    assert.equal(loadConfig({ ...production, LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
    assert.match(problemsOf({ LOG_FORMAT: 'text' })[0]!, /^LOG_FORMAT/);
  });

  it('names the variable when a value is wrong', () => {
    assert.deepEqual(
      problemsOf({ PORT: 'eighty' }).map((p) => p.split(':')[0]),
      ['PORT'],
    );
    assert.match(
      problemsOf({ DATABASE_URL: 'mysql://x' })[0]!,
      /^DATABASE_URL: must be a URL starting with postgres:\/\//,
    );
    assert.match(problemsOf({ REDIS_URL: 'localhost:6379' })[0]!, /^REDIS_URL/);
    assert.match(problemsOf({ MIGRATE_ON_START: 'maybe' })[0]!, /^MIGRATE_ON_START: must be true or false/);
  });

  it('accepts a safe production configuration, with secure host-only cookies', () => {
    const config = loadConfig(production);
    assert.equal(config.isProduction, true);
    assert.equal(config.session.secureCookie, true);
    assert.equal(config.session.cookieName, '__Host-tfa.sid');
  });

  const unsafe: Array<[string, Record<string, string>, RegExp]> = [
    ['a missing session secret', { SESSION_SECRET: '' }, /^SESSION_SECRET: required in production/],
    ['a short session secret', { SESSION_SECRET: 'tooshort' }, /^SESSION_SECRET: must be at least 32 characters/],
    [
      'a placeholder session secret',
      { SESSION_SECRET: 'change-me-change-me-change-me-change-me' },
      /^SESSION_SECRET: looks like a placeholder/,
    ],
    ['the embedded database', { DATABASE_URL: '' }, /^DATABASE_URL: required in production/],
    ['no API token keys', { API_TOKEN_KEYS: '' }, /^API_TOKEN_KEYS: required in production/],
    ['in-process sessions', { REDIS_URL: '' }, /^REDIS_URL: required in production/],
    ['the console code provider', { CODE_PROVIDER: 'console' }, /^CODE_PROVIDER: the console provider only logs codes/],
    [
      'no Verify service of its own for the open phone API',
      { TWILIO_API_VERIFY_SERVICE_SID: '' },
      /^TWILIO_API_VERIFY_SERVICE_SID: required in production, a Verify service other than/,
    ],
    [
      "the sign-in's Verify service for the open phone API",
      { TWILIO_API_VERIFY_SERVICE_SID: `VA${'c'.repeat(32)}` },
      /^TWILIO_API_VERIFY_SERVICE_SID: required in production/,
    ],
    ['no passkey relying party', { PASSKEY_RP_ID: '' }, /^PASSKEY_RP_ID: required in production/],
    ['no passkey origins', { PASSKEY_ORIGINS: '' }, /^PASSKEY_ORIGINS: required in production/],
    [
      'a passkey origin over plain http',
      { PASSKEY_ORIGINS: 'https://app.example.com,http://app.example.com' },
      /^PASSKEY_ORIGINS: every origin must start with https:\/\/ in production/,
    ],
    [
      'a Twilio stand-in',
      { TWILIO_API_BASE_URL: 'http://127.0.0.1:4010' },
      /^TWILIO_API_BASE_URL: points Twilio calls at a stand-in/,
    ],
  ];
  for (const [what, change, message] of unsafe) {
    it(`refuses ${what} in production`, () => {
      const problems = problemsOf({ ...production, ...change });
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, message);
    });
  }

  it('serves metrics in production only with METRICS_TOKEN, and anywhere else without', () => {
    assert.deepEqual(loadConfig(production).metrics, { token: undefined, open: false });
    const token = 'a-metrics-token-of-at-least-32-characters';
    assert.deepEqual(loadConfig({ ...production, METRICS_TOKEN: token }).metrics, { token, open: false });
    assert.deepEqual(loadConfig({}).metrics, { token: undefined, open: true });
    assert.match(problemsOf({ METRICS_TOKEN: 'short' })[0]!, /^METRICS_TOKEN: must be at least 32 characters/);
  });

  it('accepts embedded stores in production only when explicitly allowed', () => {
    const config = loadConfig({
      ...production,
      DATABASE_URL: '',
      REDIS_URL: '',
      ALLOW_EMBEDDED_STORES_IN_PRODUCTION: 'true',
    });
    assert.equal(config.database.url, undefined);
    assert.equal(config.redisUrl, undefined);
  });

  it('uses Twilio with an API key when one is configured, the console otherwise', () => {
    const config = loadConfig(production);
    assert.equal(config.twoFactor.provider, 'twilio');
    assert.equal(config.twoFactor.twilio?.username, production.TWILIO_API_KEY_SID);
    assert.equal(config.twoFactor.devOutbox, false);
    assert.equal(loadConfig({}).twoFactor.provider, 'console');
    assert.equal(loadConfig({}).twoFactor.devOutbox, true);
  });

  it('names what is missing when Twilio is chosen without credentials', () => {
    const problems = problemsOf({ CODE_PROVIDER: 'twilio' });
    assert.ok(problems.some((p) => p.startsWith('TWILIO_ACCOUNT_SID')));
    assert.ok(problems.some((p) => p.startsWith('TWILIO_VERIFY_SERVICE_SID')));
    assert.ok(problems.some((p) => p.includes('TWILIO_AUTH_TOKEN')));
  });

  it('keeps authenticator apps on Twilio when Twilio sends the codes, here otherwise, unless TOTP_PROVIDER says', () => {
    assert.equal(loadConfig(production).totp.provider, 'twilio');
    assert.equal(loadConfig({}).totp.provider, 'local');
    assert.equal(loadConfig({ ...production, TOTP_PROVIDER: 'local' }).totp.provider, 'local');
    const appsOnly = loadConfig({
      ...production,
      NODE_ENV: 'development',
      CODE_PROVIDER: 'console',
      TOTP_PROVIDER: 'twilio',
    });
    assert.equal(appsOnly.twoFactor.provider, 'console');
    assert.equal(appsOnly.totp.provider, 'twilio');
    assert.ok(appsOnly.twoFactor.twilio, 'the Twilio credentials are read for the apps alone');
    const problems = problemsOf({ TOTP_PROVIDER: 'twilio' });
    assert.ok(
      problems.some((p) => p.startsWith('TWILIO_ACCOUNT_SID')),
      problems.join('; '),
    );
    assert.match(problemsOf({ TOTP_PROVIDER: 'sms' })[0]!, /^TOTP_PROVIDER: /);
  });

  it('reads API_TOKEN_KEYS as P-256 keys named by a kid, the first signing, and refuses anything else', () => {
    const [first, second] = [tokenKey(), tokenKey()];
    const keys = loadConfig({ API_TOKEN_KEYS: `new:${first}, old:${second}` }).api.tokenKeys!;
    assert.deepEqual(
      keys.map((key) => key.kid),
      ['new', 'old'],
    );
    assert.equal(loadConfig({}).api.tokenKeys, undefined, 'development makes a key at start');
    for (const [value, problem] of [
      [`k1:${tokenKey('P-384')}`, /must be an EC P-256 key/],
      ['k1:bm90IGEga2V5', /is not a PKCS#8 private key/],
      [first, /each key must be <kid>:<base64 PKCS#8 key>/],
      [`k1:${first},k1:${second}`, /key id k1 is given twice/],
    ] as const) {
      assert.match(problemsOf({ API_TOKEN_KEYS: value })[0]!, problem);
    }
    assert.match(problemsOf({ API_CORS_ORIGINS: 'https://app.example.com/path' })[0]!, /is not an origin/);
    assert.deepEqual(loadConfig({ API_CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).api.corsOrigins, [
      'https://a.example',
      'http://localhost:5173',
    ]);
  });

  it('.env.example lists every variable the app reads, each under a comment', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8').split('\n');
    for (const name of CONFIG_VARIABLES) {
      const at = example.findIndex((line) => line.startsWith(`${name}=`));
      assert.ok(at > 0, `${name} is in .env.example`);
      let above = at - 1;
      while (above > 0 && /^[A-Z0-9_]+=/.test(example[above]!)) above -= 1;
      assert.match(example[above]!, /^# /, `${name} has a comment above it (or above its group)`);
    }
  });

  it('reads a variable set to nothing, as .env.example lists them, as not set', () => {
    const config = loadConfig({ CODE_PROVIDER: '', TOTP_PROVIDER: ' ', PORT: '', SESSION_SECRET: '' });
    assert.equal(config.twoFactor.provider, 'console');
    assert.equal(config.totp.provider, 'local');
    assert.equal(config.port, 3000);
    assert.equal(config.session.secretIsEphemeral, true);
    assert.ok(problemsOf({ ...production, SESSION_SECRET: '' }).some((p) => p.startsWith('SESSION_SECRET: required')));
  });

  it('reads SUPPORT_CONTACT as an email address or a web page, and nothing by default', () => {
    assert.equal(loadConfig({}).supportContact, undefined);
    assert.deepEqual(loadConfig({ SUPPORT_CONTACT: ' help@example.com ' }).supportContact, {
      kind: 'email',
      address: 'help@example.com',
    });
    assert.deepEqual(loadConfig({ SUPPORT_CONTACT: 'https://example.com/help' }).supportContact, {
      kind: 'web',
      url: 'https://example.com/help',
    });
    for (const wrong of ['call Bob', 'javascript:alert(1)', 'ftp://example.com']) {
      assert.match(
        problemsOf({ SUPPORT_CONTACT: wrong })[0]!,
        /^SUPPORT_CONTACT: must be an email address or a URL/,
        wrong,
      );
    }
  });

  it('makes passkeys for localhost and http://localhost:PORT in development, and refuses origins off the RP ID', () => {
    const config = loadConfig({ PORT: '4123' });
    assert.deepEqual(config.passkeys, {
      rpId: 'localhost',
      origins: ['http://localhost:4123'],
      rpName: 'Two-factor sign-in',
    });
    assert.deepEqual(loadConfig(production).passkeys.origins, ['https://app.example.com']);
    assert.equal(loadConfig({ ...production, PASSKEY_RP_ID: 'App.Example.com' }).passkeys.rpId, 'app.example.com');
    assert.match(
      problemsOf({ ...production, PASSKEY_ORIGINS: 'https://evil.test' })[0]!,
      /^PASSKEY_ORIGINS: https:\/\/evil\.test is not on example\.com/,
    );
    // A suffix that is not a parent domain is not "below" it.
    assert.match(
      problemsOf({ ...production, PASSKEY_ORIGINS: 'https://badexample.com' })[0]!,
      /is not on example\.com/,
    );
    assert.match(problemsOf({ PASSKEY_RP_ID: '127.0.0.1' })[0]!, /^PASSKEY_RP_ID: must be a host name/);
    assert.match(problemsOf({ PASSKEY_RP_ID: 'https://example.com' })[0]!, /^PASSKEY_RP_ID: must be a host name/);
    assert.match(
      problemsOf({ PASSKEY_ORIGINS: 'http://localhost:3000/login' })[0]!,
      /^PASSKEY_ORIGINS: .* is not an origin/,
    );
  });

  it('keeps previous secrets for rotation, signing with the new one', () => {
    const config = loadConfig({ ...production, SESSION_PREVIOUS_SECRETS: 'old-one, older-one' });
    assert.deepEqual(config.session.secrets, [goodSecret, 'old-one', 'older-one']);
  });

  it('stops the real server before it listens when production config is unsafe', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(output, /SESSION_SECRET: required in production/);
    assert.match(output, /DATABASE_URL: required in production/);
    assert.match(output, /REDIS_URL: required in production/);
    assert.match(output, /CODE_PROVIDER: the console provider/);
    assert.doesNotMatch(output, /serving/);
  });
});
