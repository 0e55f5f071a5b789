// The read of the signed-in person that every signed-in request makes: the account, the row of
// its session and its factors, in one statement (src/sign-in/signed-in.ts). A session whose row
// is gone, of an older generation or of a locked account is signed out at its next request,
// whatever else still holds it; ids that are not ours are no one, never an error; the factors
// are exactly those the factors' own list gives.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { factorsRepository } from '../../src/factors/index.js';
import { signedInRepository } from '../../src/sign-in/index.js';
import {
  appForTests,
  editStoredSession,
  isSignedIn,
  sessionCookie,
  signIn,
  signUp,
  strongPassword,
  type Agent,
} from '../support/app.js';

describe('the signed-in person, read in one statement', () => {
  const running = appForTests();
  const prisma = () => running.app.services.database.prisma;

  /** A person signed in on one browser: its agent, the session's cookie, the account and the session's row. */
  async function signedInPerson() {
    const { email } = await signUp(running.app.agent());
    const agent: Agent = running.app.agent();
    const cookie = sessionCookie(await signIn(agent, email, strongPassword));
    assert.ok(cookie, 'the sign-in set a session cookie');
    const user = await prisma().user.findUniqueOrThrow({ where: { email } });
    const row = await prisma().userSession.findFirstOrThrow({
      where: { userId: user.id },
      orderBy: { createdAt: 'desc' },
    });
    assert.equal(await isSignedIn(agent), true);
    return { agent, cookie, user, row };
  }

  it('signs out a session whose row is gone, though its generation still holds', async () => {
    const { agent, row } = await signedInPerson();
    await prisma().userSession.delete({ where: { id: row.id } });
    assert.equal(await isSignedIn(agent), false);
  });

  it('signs out a session of an older generation, though its row is still there', async () => {
    const { agent, user, row } = await signedInPerson();
    await prisma().user.update({ where: { id: user.id }, data: { sessionGeneration: { increment: 1 } } });
    assert.equal(await isSignedIn(agent), false);
    assert.equal(await prisma().userSession.count({ where: { id: row.id } }), 1, 'the row was left in place');
  });

  it('signs out a session of a locked account, though its row and generation still hold', async () => {
    const { agent, user } = await signedInPerson();
    await prisma().user.update({ where: { id: user.id }, data: { lockedAt: new Date() } });
    assert.equal(await isSignedIn(agent), false);
  });

  it("signs out a session naming another person's row", async () => {
    const { agent, cookie } = await signedInPerson();
    const other = await signedInPerson();
    await editStoredSession<{ passport: { user: { sid: string } } }>(running.app, cookie, (stored) => {
      stored.passport.user.sid = other.row.id;
    });
    assert.equal(await isSignedIn(agent), false);
    assert.equal(await isSignedIn(other.agent), true);
  });

  for (const [field, value] of [
    ['sid', 'not-a-uuid'],
    ['id', "1' OR '1'='1"],
  ] as const)
    it(`treats a session whose ${field} is not a uuid as no one, without an error`, async () => {
      const { agent, cookie } = await signedInPerson();
      await editStoredSession<{ passport: { user: Record<string, string> } }>(running.app, cookie, (stored) => {
        stored.passport.user[field] = value;
      });
      const response = await agent.get('/account');
      assert.equal(response.status, 303);
      assert.match(response.headers.location ?? '', /^\/login/);
    });

  it('reads the factors exactly as the factors feature lists them: order, fields and dates', async () => {
    const { user, row } = await signedInPerson();
    const at = (iso: string) => new Date(iso);
    // The one used last first, then those never used, the oldest first; values json must carry
    // back untouched (quotes, backslashes, non-Latin text, a time with no milliseconds).
    await prisma().userFactor.createMany({
      data: [
        { userId: user.id, kind: 'phone', phoneNumber: '+33612345678', createdAt: at('2026-01-01T10:00:00.000Z') },
        {
          userId: user.id,
          kind: 'totp',
          label: 'Work "phone" \\ 仕事 😀',
          totpSecret: 'v1.key.iv.tag.cipher',
          totpLastStep: 59_000_123,
          totpLastCode: 'hash',
          twilioEntity: 'entity',
          twilioFactorSid: 'YF123',
          createdAt: at('2026-01-02T10:00:00.100Z'),
          lastUsedAt: at('2026-03-01T08:30:00.120Z'),
        },
        { userId: user.id, kind: 'passkey', createdAt: at('2025-12-31T23:59:59.999Z') },
        {
          userId: user.id,
          kind: 'recovery_codes',
          createdAt: at('2026-01-03T00:00:00.000Z'),
          lastUsedAt: at('2026-03-02T00:00:00.000Z'),
        },
      ],
    });
    const listed = await factorsRepository(running.app.services.database).listForUser(user.id);
    assert.deepEqual(
      listed.map((factor) => factor.kind),
      ['recovery_codes', 'totp', 'passkey', 'phone'],
    );
    const signedIn = signedInRepository(running.app.services.database);
    const withSession = await signedIn.read(user.id, { id: row.id, staleBefore: new Date(0) });
    assert.ok(withSession);
    // deepStrictEqual compares prototypes: a date left a string fails here.
    assert.deepStrictEqual(withSession.factors, listed);
    assert.deepStrictEqual(withSession.user, await prisma().user.findUniqueOrThrow({ where: { id: user.id } }));
    assert.equal(withSession.stale, false);
    const withoutSession = await signedIn.read(user.id, null);
    assert.deepStrictEqual(withoutSession?.factors, listed);
    assert.deepStrictEqual((await signedIn.read(row.userId, { id: row.id, staleBefore: new Date() }))?.stale, true);
  });

  it('reads no factors as an empty list, and no one for an account or a session that is not there', async () => {
    const { user, row } = await signedInPerson();
    const signedIn = signedInRepository(running.app.services.database);
    assert.deepStrictEqual((await signedIn.read(user.id, null))?.factors, []);
    assert.deepStrictEqual((await signedIn.read(user.id, { id: row.id, staleBefore: new Date(0) }))?.factors, []);
    const nobody = '00000000-0000-4000-8000-000000000000';
    assert.equal(await signedIn.read(nobody, null), undefined);
    assert.equal(await signedIn.read(user.id, { id: nobody, staleBefore: new Date(0) }), undefined);
    assert.equal(await signedIn.read(nobody, { id: row.id, staleBefore: new Date(0) }), undefined);
  });
});
