// One embedded database, one process: the real server and the real commands as separate
// processes on one PGlite data directory. A command run while the app is up works through the
// app's database, so the app sees its write at once and nothing is lost on shutdown; a second
// app refuses to open the directory; a lock left by a dead process is taken over.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { csrfTokenIn, strongPassword, uniqueEmail } from '../support/app.js';
import { runScript, startServer, stop, type RunningServer } from '../support/processes.js';

async function signInAt(server: RunningServer, email: string) {
  const agent = request.agent(server.url);
  const form = await agent.get('/login').expect(200);
  const signedIn = await agent
    .post('/login')
    .type('form')
    .send({ email, password: strongPassword, _csrf: csrfTokenIn(form.text) });
  return { status: signedIn.status, agent };
}

describe('the embedded database has one owner process', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'tfa-lock-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('admin:create and db:migrate while the app runs: the running app sees the admin, and it survives a restart', async () => {
    const email = uniqueEmail('lock-admin');
    const env = { PGLITE_DATA_DIR: dataDir };
    const first = await startServer(env);
    try {
      const created = await runScript('src/cli/admin-create.ts', [email], { ...env, ADMIN_PASSWORD: strongPassword });
      assert.equal(created.code, 0, created.output);
      const signedIn = await signInAt(first, email);
      assert.equal(signedIn.status, 303, 'the running app sees the new admin');
      await signedIn.agent.get('/admin').expect(200);
      assert.match(created.output, /Created the admin/);
      assert.match(created.output, new RegExp(`running app \\(process ${first.process.pid}\\)`));

      const migrated = await runScript('src/cli/db-migrate.ts', [], env);
      assert.equal(migrated.code, 0, migrated.output);
      assert.match(migrated.output, /up to date/);
    } finally {
      assert.equal(await stop(first), 0);
    }

    const second = await startServer(env);
    try {
      const signedIn = await signInAt(second, email);
      assert.equal(signedIn.status, 303, 'the admin survived the shutdown of the app');
      await signedIn.agent.get('/admin').expect(200);
    } finally {
      assert.equal(await stop(second), 0);
    }
  });

  it('refuses a second app on the same data directory, naming the running process and what to do', async () => {
    const env = { PGLITE_DATA_DIR: dataDir };
    const running = await startServer(env);
    try {
      const second = await startServer(env).catch((error: unknown) => error as Error);
      if (!(second instanceof Error)) {
        await stop(second);
        assert.fail('a second app opened the same data directory');
      }
      assert.match(second.message, /server exited with 1/);
      assert.match(second.message, new RegExp(`in use by process ${running.process.pid}`));
      assert.match(second.message, /stop that process first, or give this one another PGLITE_DATA_DIR/);
      await request(running.url).get('/login').expect(200);
    } finally {
      assert.equal(await stop(running), 0);
    }
  });

  it('takes over the lock of a process that died without releasing it', async () => {
    const lockFile = path.join(dataDir, 'owner.lock');
    const deadPid = Number(
      execFileSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).trim(),
    );
    await writeFile(
      lockFile,
      JSON.stringify({
        pid: deadPid,
        since: new Date().toISOString(),
        url: 'postgresql://127.0.0.1:1/gone',
        token: 'dead',
      }),
    );
    const server = await startServer({ PGLITE_DATA_DIR: dataDir });
    try {
      const owner = JSON.parse(await readFile(lockFile, 'utf8')) as { pid: number };
      assert.equal(owner.pid, server.process.pid);
    } finally {
      assert.equal(await stop(server), 0);
    }
    await assert.rejects(readFile(lockFile), { code: 'ENOENT' }, 'a clean stop releases the lock');
  });
});
