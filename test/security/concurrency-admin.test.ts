// Admin safety is enforced by the server: an action needs the confirmation its page issued
// (this admin, this session, this action, this user; once; for a few minutes), and admins
// acting on each other at the same moment can never leave the site without an active admin.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import {
  agePasswordConfirmation,
  appForTests,
  confirmPassword,
  csrfTokenIn,
  sessionCookie,
  signIn,
  signUp,
  strongPassword,
  submitForm,
  type Agent,
  type TestApp,
} from '../support/app.js';
import { withoutPostgresServer } from '../support/databases.js';
import { eventually } from '../support/eventually.js';

/** The confirmation a page carries; empty when it carries none (what the POST makes of that is under test). */
function confirmationIn(html: string): string {
  return /name="confirmation" value="([^"]+)"/.exec(html)?.[1] ?? '';
}

/** An admin whose session has just confirmed its password, as admin actions ask. */
async function adminOf(app: TestApp): Promise<{ agent: Agent; id: string; email: string }> {
  const agent = app.agent();
  const { email } = await signUp(agent);
  const user = await app.services.database.prisma.user.update({ where: { email }, data: { role: 'ADMIN' } });
  await confirmPassword(agent);
  return { agent, id: user.id, email };
}

async function personOf(app: TestApp): Promise<{ agent: Agent; id: string }> {
  const agent = app.agent();
  const { email } = await signUp(agent);
  const user = await app.services.database.prisma.user.findUniqueOrThrow({ where: { email } });
  return { agent, id: user.id };
}

async function lockedAtOf(app: TestApp, id: string): Promise<Date | null> {
  return (await app.services.database.prisma.user.findUniqueOrThrow({ where: { id } })).lockedAt;
}

/** Opens the confirmation page; returns its CSRF token and confirmation. */
async function confirmPage(agent: Agent, userId: string, action: string) {
  const page = await agent.get(`/admin/users/${userId}/${action}`).expect(200);
  return { _csrf: csrfTokenIn(page.text), confirmation: confirmationIn(page.text) };
}

function post(agent: Agent, userId: string, action: string, fields: Record<string, string>) {
  return agent.post(`/admin/users/${userId}/${action}`).type('form').send(fields);
}

describe('admin actions need the confirmation their page issued', () => {
  const running = appForTests();

  const admin = () => adminOf(running.app);
  const person = () => personOf(running.app);
  const lockedAt = (id: string) => lockedAtOf(running.app, id);

  it('refuses a POST that skipped the confirmation page, sending the admin back to it', async () => {
    const { agent } = await admin();
    const target = await person();
    const csrf = csrfTokenIn((await agent.get('/admin/users').expect(200)).text);
    const skipped = await post(agent, target.id, 'lock', { _csrf: csrf });
    assert.equal(skipped.status, 303);
    assert.equal(skipped.headers.location, `/admin/users/${target.id}/lock`);
    assert.match((await agent.get(skipped.headers.location).expect(200)).text, /Please confirm/);
    assert.equal(await lockedAt(target.id), null);
    await target.agent.get('/account').expect(200);
  });

  it('refuses a confirmation for another action, another user, another session or a second use', async () => {
    const first = await admin();
    const target = await person();
    const other = await person();
    const forSignOut = await confirmPage(first.agent, target.id, 'sign-out-everywhere');
    assert.equal(
      (await post(first.agent, target.id, 'lock', forSignOut)).headers.location,
      `/admin/users/${target.id}/lock`,
      'another action',
    );
    assert.equal(
      (await post(first.agent, other.id, 'sign-out-everywhere', forSignOut)).headers.location,
      `/admin/users/${other.id}/sign-out-everywhere`,
      'another user',
    );

    const secondSession = running.app.agent();
    assert.equal((await signIn(secondSession, first.email, strongPassword)).status, 303);
    await confirmPassword(secondSession);
    const csrf = csrfTokenIn((await secondSession.get('/admin/users').expect(200)).text);
    const forLock = await confirmPage(first.agent, target.id, 'lock');
    assert.equal(
      (await post(secondSession, target.id, 'lock', { ...forLock, _csrf: csrf })).headers.location,
      `/admin/users/${target.id}/lock`,
      'another session',
    );
    assert.equal(await lockedAt(target.id), null);
    await target.agent.get('/account').expect(200);
    await other.agent.get('/account').expect(200);

    assert.match(
      (await post(first.agent, target.id, 'lock', forLock)).headers.location as string,
      /^\/admin\/users\?q=/,
      'the right session, action and user',
    );
    assert.notEqual(await lockedAt(target.id), null);
    await running.app.services.database.prisma.user.update({ where: { id: target.id }, data: { lockedAt: null } });
    assert.equal(
      (await post(first.agent, target.id, 'lock', forLock)).headers.location,
      `/admin/users/${target.id}/lock`,
      'a second use',
    );
    assert.equal(await lockedAt(target.id), null);
  });

  it('refuses a confirmation that has expired', async () => {
    const { agent } = await admin();
    const target = await person();
    const confirmed = await confirmPage(agent, target.id, 'lock');
    // Time passing, without waiting for it: every confirmation issued so far is now out of date.
    await running.app.services.database.prisma.adminConfirmation.updateMany({
      data: { expiresAt: new Date(Date.now() - 1_000) },
    });
    assert.equal((await post(agent, target.id, 'lock', confirmed)).headers.location, `/admin/users/${target.id}/lock`);
    assert.equal(await lockedAt(target.id), null);
  });

  it('carries out one confirmed action once, however many times it is sent at the same moment', async () => {
    const { agent, id } = await admin();
    const target = await person();
    const confirmed = await confirmPage(agent, target.id, 'make-admin');
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => post(agent, target.id, 'make-admin', confirmed)),
    );
    const done = responses.filter((response) => String(response.headers.location).startsWith('/admin/users?q='));
    assert.equal(
      done.length,
      1,
      responses.map((response) => `${response.status} ${response.headers.location}`).join(', '),
    );
    const audited = await running.app.services.database.prisma.auditEvent.count({
      where: { type: 'admin_action', outcome: 'ok', userId: id, detail: { path: ['target'], equals: target.id } },
    });
    assert.equal(audited, 1);
  });

  for (const action of ['remove-admin', 'lock']) {
    it(`leaves at least one active admin when two admins ${action} each other at the same moment`, async () => {
      for (let round = 0; round < 8; round += 1) {
        const [a, b] = [await admin(), await admin()];
        const [aConfirms, bConfirms] = [
          await confirmPage(a.agent, b.id, action),
          await confirmPage(b.agent, a.id, action),
        ];
        await Promise.all([post(a.agent, b.id, action, aConfirms), post(b.agent, a.id, action, bConfirms)]);
        const remaining = await running.app.services.database.prisma.user.count({
          where: { id: { in: [a.id, b.id] }, role: 'ADMIN', lockedAt: null },
        });
        assert.equal(remaining, 1, `round ${round}: exactly one of the two is still an active admin`);
      }
    });
  }
});

describe("admin actions need a recent password confirmation, and never reset the admin's own 2FA", () => {
  const running = appForTests();
  const roleOf = async (id: string) =>
    (await running.app.services.database.prisma.user.findUniqueOrThrow({ where: { id } })).role;

  it('changes nothing for a session signed in without confirming its password', async () => {
    const { email } = await signUp(running.app.agent());
    await running.app.services.database.prisma.user.update({ where: { email }, data: { role: 'ADMIN' } });
    const agent = running.app.agent();
    assert.equal((await signIn(agent, email, strongPassword)).status, 303);
    const target = await personOf(running.app);

    // Whatever the page gives such a session, sent back as the confirmation.
    const page = await agent.get(`/admin/users/${target.id}/make-admin`);
    const csrf = csrfTokenIn((await agent.get('/admin/users').expect(200)).text);
    const sent = await post(agent, target.id, 'make-admin', { _csrf: csrf, confirmation: confirmationIn(page.text) });
    assert.equal(await roleOf(target.id), 'USER');
    const askPassword = `/account/confirm-password?next=${encodeURIComponent(`/admin/users/${target.id}/make-admin`)}`;
    assert.equal(page.headers.location, askPassword, 'the confirmation page asks for the password first');
    assert.equal(sent.headers.location, askPassword, 'so does the form');
  });

  it("changes nothing once the confirmation is out of date, even with the page's own token", async () => {
    const { agent } = await adminOf(running.app);
    const target = await personOf(running.app);
    const confirmed = await submitForm(agent, '/account/confirm-password', '/account/confirm-password', {
      password: strongPassword,
    });
    const fields = await confirmPage(agent, target.id, 'make-admin');
    await agePasswordConfirmation(
      running.app,
      sessionCookie(confirmed)!,
      running.app.config.session.passwordConfirmationMs + 1_000,
    );

    const late = await post(agent, target.id, 'make-admin', fields);
    assert.equal(
      late.headers.location,
      `/account/confirm-password?next=${encodeURIComponent(`/admin/users/${target.id}/make-admin`)}`,
    );
    assert.equal(await roleOf(target.id), 'USER');

    await confirmPassword(agent);
    assert.match(
      (await post(agent, target.id, 'make-admin', await confirmPage(agent, target.id, 'make-admin'))).headers
        .location as string,
      /^\/admin\/users\?q=/,
    );
    assert.equal(await roleOf(target.id), 'ADMIN');
  });

  it("refuses to reset the admin's own 2FA, which is turned off on the account page", async () => {
    const { agent, id } = await adminOf(running.app);
    const prisma = running.app.services.database.prisma;
    const twoFactor = await prisma.userFactor.create({
      data: { userId: id, kind: 'phone', phoneNumber: '+33612340099' },
    });

    const refused = await post(agent, id, 'reset-2fa', await confirmPage(agent, id, 'reset-2fa'));
    assert.match(refused.headers.location as string, /^\/admin\/users\?q=/);
    assert.match((await agent.get(refused.headers.location as string).expect(200)).text, /on your account page/);
    assert.deepEqual(await prisma.userFactor.findMany({ where: { userId: id } }), [twoFactor]);
    const audited = await prisma.auditEvent.findFirstOrThrow({
      where: { type: 'admin_action', userId: id },
      orderBy: { id: 'desc' },
    });
    assert.equal(audited.outcome, 'own_two_factor');
  });
});

describe(
  'an admin action cut off from the database while it waits for its turn',
  { skip: withoutPostgresServer },
  () => {
    const running = appForTests({ proxyDatabase: true });

    it('answers the calm 503 and changes nothing', async () => {
      const { agent } = await adminOf(running.app);
      const target = await personOf(running.app);
      const confirmed = await confirmPage(agent, target.id, 'lock');
      // Another admin change holds the turn (straight to Postgres, not through the cuttable proxy).
      const holder = new pg.Client({ connectionString: running.app.databaseUrl });
      await holder.connect();
      try {
        await holder.query("SELECT pg_advisory_lock(hashtext('admin changes'))");
        // then() sends it now; the answer is awaited once the database is cut.
        const answer = post(agent, target.id, 'lock', confirmed).then((response) => response);
        const waiting =
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        await eventually(
          async () => ((await holder.query<{ n: number }>(waiting)).rows[0]?.n ?? 0) > 0,
          'the action waits for its turn',
        );
        running.app.databaseProxy!.down();
        const response = await answer;
        assert.equal(response.status, 503, response.text.slice(0, 300));
      } finally {
        running.app.databaseProxy!.up();
        await holder.end();
      }
      assert.equal(await lockedAtOf(running.app, target.id), null);
      const audited = await running.app.services.database.prisma.auditEvent.count({
        where: { type: 'admin_action', detail: { path: ['target'], equals: target.id } },
      });
      assert.equal(audited, 0);
    });
  },
);

describe(
  'the audit CSV export cut off from the database before its first rows',
  { skip: withoutPostgresServer },
  () => {
    const running = appForTests({ proxyDatabase: true });

    it('answers the calm 503, not a download that breaks off after its header', async () => {
      const { agent } = await adminOf(running.app);
      // The export's first query waits behind a lock taken straight on Postgres (not through the proxy).
      const holder = new pg.Client({ connectionString: running.app.databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE');
        const answer = agent.get('/admin/audit.csv').then(
          (response) => `${response.status} ${String(response.headers['content-type'])}`,
          (error: Error) => error.message,
        );
        const waiting =
          "SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'audit_events'::regclass AND NOT granted";
        await eventually(
          async () => ((await holder.query<{ n: number }>(waiting)).rows[0]?.n ?? 0) > 0,
          'the export waits for the table',
        );
        running.app.databaseProxy!.down();
        assert.match(await answer, /^503 text\/html/);
      } finally {
        running.app.databaseProxy!.up();
        await holder.query('ROLLBACK');
        await holder.end();
      }
    });
  },
);
