// Secrets at rest (an authenticator app's TOTP secret): AES-256-GCM under a key named by an
// id, so keys can rotate. A box reads "<keyId>:<iv>:<tag>:<ciphertext>" (base64url parts): the
// first key seals, every key opens, and a box names the key that sealed it. A box opened with
// the wrong key, or changed in any way, does not open (GCM's tag), and a box sealed for one
// purpose does not open for another (the purpose is authenticated data).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseNamedKeys } from './named-keys.js';

export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12;
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export interface SecretKey {
  id: string;
  key: Buffer;
}

/**
 * Reads "k2:<base64 32 bytes>,k1:<base64>": the keys in order, the first sealing. Returns the
 * problems instead when a key is not `<id>:<base64 of 32 bytes>` or an id repeats.
 */
export function parseSecretKeys(value: string): { ok: true; keys: SecretKey[] } | { ok: false; problem: string } {
  return parseNamedKeys(value, {
    idPattern: KEY_ID_PATTERN,
    idRule: 'each key must be <id>:<base64 key>, ids of letters, digits, _ and -',
    read: (id, text) => {
      // Node's base64 decoder reads the URL-safe alphabet too.
      const key = Buffer.from(text, 'base64');
      return key.length === SECRET_KEY_BYTES
        ? key
        : { problem: `key ${id} must be ${SECRET_KEY_BYTES} bytes (base64)` };
    },
  });
}

export function secretBox(keys: SecretKey[]) {
  const [sealing] = keys;
  if (!sealing) throw new Error('a secret box needs a key');
  const byId = new Map(keys.map((entry) => [entry.id, entry.key]));
  return {
    /** The id of the key that seals new boxes. */
    keyId: sealing.id,

    seal(plain: string, purpose: string): string {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', sealing.key, iv);
      cipher.setAAD(Buffer.from(purpose));
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [sealing.id, iv, cipher.getAuthTag(), ciphertext]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join(':');
    },

    /** The plain text, or undefined when the box is malformed, sealed with an unknown key, or altered. */
    open(box: string, purpose: string): string | undefined {
      const [id, iv, tag, ciphertext, ...rest] = box.split(':');
      const key = id === undefined ? undefined : byId.get(id);
      if (!key || iv === undefined || tag === undefined || ciphertext === undefined || rest.length) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(purpose));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString(
          'utf8',
        );
      } catch {
        return undefined;
      }
    },

    /** Whether the box was sealed with an older key (to be sealed again when convenient). */
    isStale: (box: string): boolean => !box.startsWith(`${sealing.id}:`),
  };
}

export type SecretBox = ReturnType<typeof secretBox>;

/**
 * Development only: a key kept in `file` (made on first use, readable by its owner only), so
 * secrets sealed before a restart still open after it.
 */
export function developmentKey(file: string): { key: SecretKey; created: boolean } {
  if (existsSync(file)) {
    const parsed = parseSecretKeys(readFileSync(file, 'utf8').trim());
    if (!parsed.ok) throw new Error(`${file}: ${parsed.problem}`);
    return { key: parsed.keys[0]!, created: false };
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const key: SecretKey = { id: 'dev', key: randomBytes(SECRET_KEY_BYTES) };
  writeFileSync(file, `${key.id}:${key.key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, created: true };
}

/** A key for this process only (tests, an in-memory database): nothing sealed with it survives a restart. */
export function ephemeralKey(): SecretKey {
  return { id: 'ephemeral', key: randomBytes(SECRET_KEY_BYTES) };
}
