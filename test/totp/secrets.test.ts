// Secrets at rest: the secret box (AES-256-GCM with key ids, rotation) and the configuration
// of its keys: production refuses to start without one, development keeps one in a file.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { developmentKey, parseSecretKeys, secretBox } from '../../src/core/secret-box.js';

const keyOf = (byte: number) => Buffer.alloc(32, byte).toString('base64');

const production = {
  NODE_ENV: 'production',
  SESSION_SECRET: 'k4T9wq0s1ZxYvB7nQm3LpR8uE2hJ6cDf',
  DATABASE_URL: 'postgresql://app@db.internal:5432/app',
  REDIS_URL: 'redis://cache.internal:6379',
  TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
  TWILIO_API_KEY_SID: `SK${'b'.repeat(32)}`,
  TWILIO_API_KEY_SECRET: 'an-api-key-secret',
  TWILIO_VERIFY_SERVICE_SID: `VA${'c'.repeat(32)}`,
  TWILIO_API_VERIFY_SERVICE_SID: `VA${'d'.repeat(32)}`,
  SMTP_URL: 'smtp://mailer:secret@smtp.internal:587',
  MAIL_FROM: 'Example <no-reply@example.com>',
  PUBLIC_URL: 'https://app.example.com',
  PASSKEY_RP_ID: 'example.com',
  PASSKEY_ORIGINS: 'https://app.example.com',
  API_TOKEN_KEYS: `api1:${generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64')}`,
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('the secret box', () => {
  const keys = (value: string) => {
    const parsed = parseSecretKeys(value);
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.problem);
    return parsed.keys;
  };

  it('seals with the first key and opens with any, so keys rotate', () => {
    const old = secretBox(keys(`k1:${keyOf(1)}`));
    const sealed = old.seal('JBSWY3DPEHPK3PXP', 'totp-secret');
    assert.match(sealed, /^k1:/);
    assert.ok(!sealed.includes('JBSWY3DPEHPK3PXP'));
    const rotated = secretBox(keys(`k2:${keyOf(2)},k1:${keyOf(1)}`));
    assert.equal(rotated.open(sealed, 'totp-secret'), 'JBSWY3DPEHPK3PXP');
    assert.ok(rotated.isStale(sealed));
    assert.match(rotated.seal('x', 'totp-secret'), /^k2:/);
    // Without the old key, or with the key id lying, it does not open.
    assert.equal(secretBox(keys(`k2:${keyOf(2)}`)).open(sealed, 'totp-secret'), undefined);
    assert.equal(secretBox(keys(`k1:${keyOf(3)}`)).open(sealed, 'totp-secret'), undefined);
  });

  it('opens nothing altered, and nothing sealed for another purpose', () => {
    const box = secretBox(keys(`k1:${keyOf(1)}`));
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'totp-secret');
    assert.equal(box.open(sealed, 'something-else'), undefined);
    const [id, iv, tag, ciphertext] = sealed.split(':') as [string, string, string, string];
    const flipped = Buffer.from(ciphertext, 'base64url');
    flipped[0]! ^= 1;
    assert.equal(box.open([id, iv, tag, flipped.toString('base64url')].join(':'), 'totp-secret'), undefined);
    assert.equal(box.open('garbage', 'totp-secret'), undefined);
    // A fresh IV each time: the same secret never seals the same way twice.
    assert.notEqual(box.seal('same', 'p'), box.seal('same', 'p'));
  });

  it('reads keys only as <id>:<base64 of 32 bytes>', () => {
    assert.equal(parseSecretKeys(`k1:${Buffer.alloc(16).toString('base64')}`).ok, false);
    assert.equal(parseSecretKeys(keyOf(1)).ok, false, 'no id');
    assert.equal(parseSecretKeys(`k1:${keyOf(1)},k1:${keyOf(2)}`).ok, false, 'an id twice');
    assert.equal(parseSecretKeys(`k1:${Buffer.alloc(32, 1).toString('base64url')}`).ok, true);
  });
});

describe('TOTP_ENCRYPTION_KEYS', () => {
  it('is required in production', () => {
    const problems = problemsOf(production);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^TOTP_ENCRYPTION_KEYS: required in production/);
    assert.deepEqual(problemsOf({ ...production, TOTP_ENCRYPTION_KEYS: `k1:${keyOf(1)}` }), []);
  });

  it('refuses a key of the wrong length, anywhere', () => {
    const short = `k1:${Buffer.alloc(31).toString('base64')}`;
    for (const env of [
      { ...production, TOTP_ENCRYPTION_KEYS: short },
      { NODE_ENV: 'development', TOTP_ENCRYPTION_KEYS: short },
    ]) {
      const problems = problemsOf(env);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, /^TOTP_ENCRYPTION_KEYS: key k1 must be 32 bytes/);
    }
  });

  it("in development without keys, keeps a generated key in the embedded database's folder", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'totp-key-'));
    try {
      const config = loadConfig({ NODE_ENV: 'development', PGLITE_DATA_DIR: path.join(dir, 'pglite') });
      assert.equal(config.totp.keys, undefined);
      assert.equal(config.totp.devKeyFile, path.join(dir, 'pglite', 'totp-key'));
      const first = developmentKey(config.totp.devKeyFile);
      assert.equal(first.created, true);
      assert.equal(statSync(config.totp.devKeyFile).mode & 0o777, 0o600);
      const second = developmentKey(config.totp.devKeyFile);
      assert.equal(second.created, false);
      assert.ok(second.key.key.equals(first.key.key), 'the same key after a restart');
      assert.match(readFileSync(config.totp.devKeyFile, 'utf8'), /^dev:/);
      // Tests and in-memory databases keep no file.
      assert.equal(loadConfig({ NODE_ENV: 'test' }).totp.devKeyFile, undefined);
      assert.equal(loadConfig({ NODE_ENV: 'development', PGLITE_DATA_DIR: 'memory://' }).totp.devKeyFile, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
