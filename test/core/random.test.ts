import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytesFromBlock } from '../../src/core/random.js';

describe('randomBytesFromBlock', () => {
  it('hands out each value once, in memory of its own, across refills of the block', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i += 1) {
      const bytes = randomBytesFromBlock(32);
      assert.equal(bytes.length, 32);
      assert.equal(bytes.byteOffset, 0);
      assert.equal(bytes.buffer.byteLength, 32, 'no view into the block or a shared pool');
      const hex = Buffer.from(bytes).toString('hex');
      assert.ok(!seen.has(hex), 'never the same value twice');
      assert.notEqual(hex, '0'.repeat(64));
      seen.add(hex);
    }
  });

  it('draws a value larger than the block on its own', () => {
    const bytes = randomBytesFromBlock(10_000);
    assert.equal(bytes.length, 10_000);
    assert.ok(bytes.some((byte) => byte !== 0));
  });
});
