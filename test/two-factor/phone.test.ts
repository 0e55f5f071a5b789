import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maskPhone, parsePhone, phoneHint } from '../../src/factors/phone/numbers.js';
import { PHONE_PROBLEMS } from '../../src/web/messages.js';

describe('phone numbers', () => {
  const valid: Array<[string, string, string]> = [
    ['+33 6 12 34 56 78', 'US', '+33612345678'],
    ['0033 6 12 34 56 78', 'US', '+33612345678'],
    ['06 12 34 56 78', 'FR', '+33612345678'],
    ['(201) 555-0123', 'US', '+12015550123'],
    ['201.555.0123', 'US', '+12015550123'],
    ['+44 7911 123456', 'FR', '+447911123456'],
    ['＋３３６１２３４５６７８', 'US', '+33612345678'],
  ];
  for (const [typed, country, e164] of valid) {
    it(`reads ${JSON.stringify(typed)} (country ${country}) as ${e164}`, () => {
      const parsed = parsePhone(typed, country);
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.equal(parsed.e164, e164);
    });
  }

  const invalid: Array<[string, string, RegExp]> = [
    ['', 'US', /Enter your phone number/],
    ['06 12 34 56 78', 'US', /not a valid phone number for the chosen country/],
    ['+33 1', 'US', /not a valid phone number/],
    ['call me maybe', 'US', /using digits/],
    ['+1 201 555 0123\u0000', 'US', /using digits/],
    ['1'.repeat(80), 'US', /using digits/],
    ['+12015550123 ext. 12', 'US', /without an extension/],
  ];
  for (const [typed, country, message] of invalid) {
    it(`refuses ${JSON.stringify(typed)} with a clear message`, () => {
      const parsed = parsePhone(typed, country);
      assert.equal(parsed.ok, false);
      assert.match(!parsed.ok ? PHONE_PROBLEMS[parsed.reason] : '', message);
    });
  }

  it('knows a landline when it sees one', () => {
    const parsed = parsePhone('+44 20 7946 0958', 'GB');
    assert.ok(parsed.ok);
    assert.equal(parsed.type, 'FIXED_LINE');
  });

  it('masks all but the country code and the last two digits', () => {
    assert.equal(maskPhone('+33612345678'), '+33 • •• •• •• 78');
    assert.equal(maskPhone('+12015550123'), '+1 ••• ••• ••23');
    assert.equal(phoneHint('+33612345678'), '+33…78');
  });
});
