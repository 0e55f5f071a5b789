// Prometheus metrics at /metrics: what an operator alerts on (request durations by route,
// sign-ins by outcome, codes sent, Twilio's latency and errors, rate-limit refusals, event-loop
// lag), open outside production, and behind a bearer token when METRICS_TOKEN is set.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import { appForTests, signIn, strongPassword, uniqueEmail } from '../support/app.js';
import { appOnTwilio, personWithTwoFactor } from '../support/twilio.js';

const TOKEN = 'a-metrics-token-of-at-least-32-characters';

/** The value of one sample line (`name{labels} value`), 0 when absent. */
function sample(text: string, name: string, labels: string): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('metrics', () => {
  const twilio = appOnTwilio({ env: { METRICS_TOKEN: TOKEN } });
  const scrape = async () => {
    const answer = await request(twilio.app.url).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return answer.text;
  };

  it('asks for the bearer token when METRICS_TOKEN is set', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN, `Basic ${TOKEN}`]) {
      const test = request(twilio.app.url).get('/metrics');
      const answer = await (authorization ? test.set('Authorization', authorization) : test);
      assert.equal(answer.status, 401, String(authorization));
      assert.doesNotMatch(answer.text, /http_request_duration_seconds/);
    }
    const anyCase = await request(twilio.app.url).get('/metrics').set('Authorization', `bearer ${TOKEN}`);
    assert.equal(anyCase.status, 200, 'the scheme in any case');
  });

  it('counts requests by route, sign-ins by outcome, codes sent and Twilio calls', async () => {
    const before = await scrape();
    await request(twilio.app.url).get('/login').expect(200);
    const person = await personWithTwoFactor(twilio, '+33612345098');
    await signIn(twilio.app.agent(), person.email, 'not the password');
    await signIn(twilio.app.agent(), uniqueEmail('nobody'), strongPassword);
    const after = await scrape();
    const grew = (name: string, labels: string) => sample(after, name, labels) - sample(before, name, labels);
    assert.ok(grew('http_request_duration_seconds_count', 'method="GET",route="/login",status="200"') >= 1);
    assert.equal(grew('sign_ins_total', 'stage="password",outcome="failed"'), 2);
    assert.equal(grew('codes_sent_total', 'channel="sms",outcome="ok"'), 1, 'the enrolment code');
    assert.ok(grew('twilio_request_duration_seconds_count', 'operation="POST Verifications",outcome="2xx"') >= 1);
    assert.ok(grew('twilio_request_duration_seconds_count', 'operation="POST VerificationCheck",outcome="2xx"') >= 1);
    assert.match(after, /^nodejs_eventloop_lag_seconds \d/m, 'event-loop lag');
    assert.doesNotMatch(after, /\+33612345098|correct horse/, 'no number or secret in any label');
  });

  it("times Twilio's failures as such", async () => {
    const before = await scrape();
    twilio.standIn.faults.serverError = true;
    try {
      await personWithTwoFactor(twilio, '+33612345099').catch(() => {});
    } finally {
      twilio.standIn.resetFaults();
    }
    const after = await scrape();
    assert.ok(
      sample(after, 'twilio_request_duration_seconds_count', 'operation="POST Verifications",outcome="5xx"') >
        sample(before, 'twilio_request_duration_seconds_count', 'operation="POST Verifications",outcome="5xx"'),
    );
  });
});

describe('metrics without a token', () => {
  const running = appForTests();

  it('are open outside production', async () => {
    const answer = await request(running.app.url).get('/metrics').expect(200);
    assert.match(answer.text, /^# TYPE http_request_duration_seconds histogram$/m);
    assert.equal(answer.headers['set-cookie'], undefined);
  });
});
