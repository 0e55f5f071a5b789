// The embedded default (`npm start` with nothing configured) under parallel requests. PGlite
// runs one session; the socket in front of it keeps a connection to itself only inside a
// transaction, so queries of several pooled connections used to overwrite each other's unnamed
// statements ("portal does not exist"): 500s and lost sign-ups under a burst.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { csrfTokenIn, strongPassword, uniqueEmail } from '../support/app.js';
import { startServer, stop, type RunningServer } from '../support/processes.js';

const PEOPLE = 30;

async function signUpAt(url: string, email: string): Promise<number> {
  const agent = request.agent(url);
  const form = await agent.get('/signup').expect(200);
  const response = await agent
    .post('/signup')
    .type('form')
    .send({ email, password: strongPassword, passwordConfirmation: strongPassword, _csrf: csrfTokenIn(form.text) });
  return response.status;
}

async function signInAt(url: string, email: string): Promise<number> {
  const agent = request.agent(url);
  const form = await agent.get('/login').expect(200);
  const response = await agent
    .post('/login')
    .type('form')
    .send({ email, password: strongPassword, _csrf: csrfTokenIn(form.text) });
  if (response.status !== 303) return response.status;
  return (await agent.get('/account')).status;
}

describe('the embedded database under parallel requests', () => {
  let dataDir: string;
  let server: RunningServer;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'tfa-parallel-'));
    server = await startServer({
      PGLITE_DATA_DIR: dataDir,
      LIMIT_SIGN_UPS_PER_IP: '1000',
      LIMIT_SIGN_INS_PER_IP: '1000',
    });
  });
  after(async () => {
    await stop(server);
    await rm(dataDir, { recursive: true, force: true });
  });

  it(`signs up and signs in ${PEOPLE} people at once, every one of them, with no server error`, async () => {
    const emails = Array.from({ length: PEOPLE }, () => uniqueEmail('parallel'));
    const signUps = await Promise.all(emails.map((email) => signUpAt(server.url, email)));
    assert.deepEqual(
      signUps,
      emails.map(() => 303),
      `sign-ups answered ${signUps.join(' ')}`,
    );
    const accounts = await Promise.all(emails.map((email) => signInAt(server.url, email)));
    assert.deepEqual(
      accounts,
      emails.map(() => 200),
      `signed-in account pages answered ${accounts.join(' ')}`,
    );
  });
});
