// The local back end on its own, with its clock set by the test: the window of one step either
// side, replays, and secrets sealed again under a rotated key.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secretBox } from '../../src/core/secret-box.js';
import { localTotpBackend } from '../../src/factors/index.js';
import { codeFor, PERIOD_MS } from './support.js';

const key = (id: string, byte: number) => ({ id, key: Buffer.alloc(32, byte) });

describe('the local TOTP back end', () => {
  let clock = 1_700_000_000_000;
  const step = () => Math.floor(clock / PERIOD_MS);
  const box = secretBox([key('k1', 1)]);
  const backend = localTotpBackend({ box, issuer: 'Test issuer', now: () => clock });

  it('makes an otpauth URI with issuer, account, SHA-1, 6 digits and 30 s', async () => {
    const started = await backend.start({ userId: 'u', accountName: 'ada@example.com' });
    assert.ok(started.ok);
    const uri = new URL(started.start.uri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(decodeURIComponent(uri.pathname), '/Test issuer:ada@example.com');
    assert.equal(uri.searchParams.get('issuer'), 'Test issuer');
    assert.equal(uri.searchParams.get('secret'), started.start.secret);
    assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
    assert.ok(!JSON.stringify(started.start.pending).includes(started.start.secret), 'no clear secret pending');
  });

  it('accepts one step either side, refuses two, and never the same step twice', async () => {
    const started = await backend.start({ userId: 'u', accountName: 'a' });
    assert.ok(started.ok);
    const secret = started.start.secret;
    const finished = await backend.finish(started.start.pending, codeFor(secret, step() - 1));
    assert.ok(finished.ok);
    assert.equal(finished.stored.lastStep, step() - 1);
    let stored = finished.stored;
    assert.deepEqual(await backend.verify(stored, codeFor(secret, step() - 1)), { ok: false, reason: 'replayed' });
    assert.deepEqual(await backend.verify(stored, codeFor(secret, step() + 2)), { ok: false, reason: 'wrong_code' });
    assert.deepEqual(await backend.verify(stored, codeFor(secret, step() - 2)), { ok: false, reason: 'wrong_code' });
    const next = await backend.verify(stored, codeFor(secret, step() + 1));
    assert.ok(next.ok);
    stored = next.stored;
    // Now the current step's code is older than the last accepted: replayed.
    assert.deepEqual(await backend.verify(stored, codeFor(secret, step())), { ok: false, reason: 'replayed' });
    clock += 2 * PERIOD_MS;
    assert.ok((await backend.verify(stored, codeFor(secret, step()))).ok);
  });

  it('fails closed on a secret no key opens, and seals old secrets again with the new key', async () => {
    const started = await backend.start({ userId: 'u', accountName: 'a' });
    assert.ok(started.ok);
    const finished = await backend.finish(started.start.pending, codeFor(started.start.secret, step()));
    assert.ok(finished.ok);
    const rotated = localTotpBackend({ box: secretBox([key('k2', 2), key('k1', 1)]), issuer: 'x', now: () => clock });
    clock += PERIOD_MS;
    const verified = await rotated.verify(finished.stored, codeFor(started.start.secret, step()));
    assert.ok(verified.ok);
    assert.match(verified.stored.secretBox!, /^k2:/);
    const withoutOldKey = localTotpBackend({ box: secretBox([key('k3', 3)]), issuer: 'x', now: () => clock });
    assert.deepEqual(await withoutOldKey.verify(finished.stored, codeFor(started.start.secret, step())), {
      ok: false,
      reason: 'unavailable',
    });
  });
});
