// The real entry point, as `npm start` runs it: no configuration, embedded PGlite on disk,
// in-process sessions; structured logs; a clean exit on SIGTERM.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { csrfTokenIn, strongPassword, uniqueEmail } from '../support/app.js';
import { startServer, stop } from '../support/processes.js';

describe('npm start with no configuration', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'tfa-server-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('serves sign-up on embedded PGlite, logs one line per request, and keeps accounts across restarts', async () => {
    const email = uniqueEmail('server');
    const first = await startServer({ PGLITE_DATA_DIR: dataDir });
    try {
      assert.ok(first.logs.some((line) => line.includes('using the embedded PGlite database')));
      assert.ok(first.logs.some((line) => line.includes('sessions are kept in this process')));
      const agent = request.agent(first.url);
      const form = await agent.get('/signup').expect(200);
      const signedUp = await agent
        .post('/signup')
        .type('form')
        .set('X-Request-Id', 'trace-me-123')
        .send({
          email,
          password: strongPassword,
          passwordConfirmation: strongPassword,
          _csrf: csrfTokenIn(form.text),
        });
      assert.equal(signedUp.status, 303);
      assert.equal(signedUp.headers['x-request-id'], 'trace-me-123');
      await agent.get('/account').expect(200);
    } finally {
      assert.equal(await stop(first), 0, 'a clean exit on SIGTERM');
    }
    const requestLines = first.logs.filter((line) => line.includes('trace-me-123'));
    assert.equal(requestLines.length, 1, 'one log line for the request');
    const entry = JSON.parse(requestLines[0]!) as { req: { method: string; url: string }; res: { statusCode: number } };
    assert.equal(entry.req.method, 'POST');
    assert.equal(entry.res.statusCode, 303);
    const allLogs = first.logs.join('\n');
    assert.ok(!allLogs.includes(strongPassword), 'no password in the logs');
    assert.ok(!/tfa\.sid=/.test(allLogs), 'no session cookie in the logs');
    assert.ok(first.logs.some((line) => line.includes('"msg":"stopped"')));

    const second = await startServer({ PGLITE_DATA_DIR: dataDir });
    try {
      const agent = request.agent(second.url);
      const form = await agent.get('/login').expect(200);
      const signedIn = await agent
        .post('/login')
        .type('form')
        .send({ email, password: strongPassword, _csrf: csrfTokenIn(form.text) });
      assert.equal(signedIn.status, 303, 'the account survived the restart');
    } finally {
      assert.equal(await stop(second), 0);
    }
  });
});

describe('npm start and npm run dev on a developer machine', () => {
  it('print readable lines, not JSON with numeric levels, unless LOG_FORMAT=json', async () => {
    const server = await startServer({ PGLITE_DATA_DIR: 'memory://', LOG_FORMAT: undefined });
    try {
      await request(server.url).get('/login').expect(200);
    } finally {
      assert.equal(await stop(server), 0);
    }
    const lines = server.logs.join('\n').split('\n').filter(Boolean);
    assert.ok(
      lines.every((line) => !line.startsWith('{')),
      `no JSON lines:\n${lines.join('\n')}`,
    );
    assert.ok(
      lines.some((line) => /\bINFO\b.*: serving$/.test(line)),
      'levels by name, the message after them',
    );
    assert.ok(
      lines.some((line) => /\bINFO\b.*: GET \/login 200 \d+ms request completed$/.test(line)),
      'a request on one readable line',
    );
    assert.ok(
      lines.some((line) => /\bINFO\b.*: stopped$/.test(line)),
      'the last line before exit is not lost',
    );
  });
});
