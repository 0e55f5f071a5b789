// `npm run api:try` answered at its prompts by this test, as a person at a terminal would:
// against the console provider (the code offered from /dev/outbox) and the Twilio stand-in.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { appForTests } from '../support/app.js';
import { appOnTwilio } from '../support/twilio.js';

/** Runs the walk-through, answering each prompt that matches with its answer, in order. */
function walkThrough(
  args: string[],
  answers: Array<[RegExp, string]>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tools/api-try/main.ts', ...args], {
      env: { PATH: process.env.PATH },
    });
    let output = '';
    let answered = 0;
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the walk-through did not finish:\n${output}`));
    }, 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const next = answers[answered];
      if (next && next[0].test(output.split('\n').at(-1) ?? '')) {
        answered += 1;
        child.stdin.write(`${next[1]}\n`);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('npm run api:try', () => {
  const running = appForTests();

  it('walks through send, verify and the protected route on the console provider, offering the outbox code', async () => {
    const { code, output } = await walkThrough(
      ['--url', running.app.url],
      [
        [/Phone number/, 'not a number'],
        [/Phone number/, '+33612340001'],
        [/Code \(Enter for \d{6}/, ''],
      ],
    );
    assert.equal(code, 0, output);
    assert.match(output, /← 400 .*E\.164/, 'a bad number is answered, and asked again');
    assert.match(output, /← 200 \{"message":"Verification code sent successfully","status":"pending"\}/);
    assert.match(output, /← 200 \{"message":"Verification successful","authenticated":true/);
    assert.match(output, /← 200 \{"message":"This is a protected route","phone_number":"\+33612340001"/);
    assert.match(output, /"sub": "\+33612340001"/);
    assert.match(output, /"alg": "ES256"/);
  });
});

describe('npm run api:try on the Twilio stand-in', () => {
  const twilio = appOnTwilio();

  it('reads the code from the stand-in, and asks again after a wrong one', async () => {
    const { code, output } = await walkThrough(
      ['--url', twilio.app.url, '--stand-in', twilio.standIn.url],
      [
        [/Phone number/, '+33612340002'],
        [/Code \(Enter for/, '000000'],
        [/Code \(Enter for/, ''],
      ],
    );
    assert.equal(code, 0, output);
    assert.match(output, /← 401 \{"message":"Invalid verification code"/);
    assert.match(output, /"amr": \[\s*"sms"\s*\]/);
  });
});
