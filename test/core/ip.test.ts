// Client addresses: which ones the audit trail keeps, and what per-IP limits count them under.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipLimitKey, validIp } from '../../src/core/ip.js';

describe('per-IP limit keys', () => {
  it('keep an IPv4 address as it is', () => {
    assert.equal(ipLimitKey('203.0.113.9'), '203.0.113.9');
  });

  it('read an IPv4-mapped IPv6 address as the IPv4 address, in either notation', () => {
    assert.equal(ipLimitKey('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(ipLimitKey('::FFFF:203.0.113.9'), '203.0.113.9');
    assert.equal(ipLimitKey('0:0:0:0:0:ffff:cb00:7109'), '203.0.113.9');
  });

  it('key IPv6 on its /64, however the address is written', () => {
    const key = '2001:db8:0:1::/64';
    for (const address of [
      '2001:db8:0:1::1',
      '2001:db8:0:1:ffff:ffff:ffff:ffff',
      '2001:0DB8:0000:0001:0000:0000:0000:0001',
      '2001:db8::1:0:0:0:7',
      '2001:db8:0:1::1.2.3.4',
      '2001:db8:0:1::1%eth0',
    ]) {
      assert.equal(ipLimitKey(address), key, address);
    }
    assert.notEqual(ipLimitKey('2001:db8:0:2::1'), key);
    assert.equal(ipLimitKey('::1'), '0:0:0:0::/64');
    assert.equal(ipLimitKey('::'), '0:0:0:0::/64');
    assert.equal(ipLimitKey('fe80::1%25en0'), 'fe80:0:0:0::/64');
  });

  it('put whatever is not an address under one key', () => {
    for (const junk of [
      undefined,
      '',
      'unknown',
      'not-an-ip',
      '1.2.3',
      '203.0.113.09',
      '[::1]',
      ' ::1',
      '2001:db8::1::2',
    ]) {
      assert.equal(ipLimitKey(junk), 'unknown', String(junk));
    }
  });
});

describe('addresses in the audit trail', () => {
  it('are kept only when they parse as an address', () => {
    assert.equal(validIp('203.0.113.9'), '203.0.113.9');
    assert.equal(validIp('2001:db8::1'), '2001:db8::1');
    assert.equal(validIp('fe80::1%eth0'), 'fe80::1%eth0');
    assert.equal(validIp('<script>'), null);
    assert.equal(validIp(undefined), null);
  });
});
