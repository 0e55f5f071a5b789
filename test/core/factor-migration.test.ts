// The user_factors migration on a database holding accounts of the time before it: every phone
// with two-factor on moves to a factor row, turned on when it was; nothing else changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { applyMigrations } from '../../src/core/db/migrations.js';
import { createTestDatabase } from '../support/databases.js';

const BEFORE = '20261125143139_admin_confirmations';
const FACTORS = '20261125170756_user_factors';

interface OldUser {
  id: string;
  email: string;
  phone: string | null;
  enabledAt: Date | null;
}

const people = {
  // Two-factor on, as the app left it: both columns set together.
  on: {
    id: '00000000-0000-4000-8000-000000000001',
    email: 'on@example.test',
    phone: '+33611223301',
    enabledAt: new Date('2026-03-04T05:06:07.089Z'),
  },
  onToo: {
    id: '00000000-0000-4000-8000-000000000002',
    email: 'on-too@example.test',
    phone: '+447700900123',
    enabledAt: new Date('2026-06-01T00:00:00.001Z'),
  },
  off: { id: '00000000-0000-4000-8000-000000000003', email: 'off@example.test', phone: null, enabledAt: null },
  // Never written by the app (it set and cleared both columns together), and read by it as
  // "two-factor off": a number without an enabled time is not a verified factor.
  phoneOnly: {
    id: '00000000-0000-4000-8000-000000000004',
    email: 'phone-only@example.test',
    phone: '+33611223304',
    enabledAt: null,
  },
  // Nor this: "on" without a number to send codes to. No phone factor can be made of it.
  enabledOnly: {
    id: '00000000-0000-4000-8000-000000000005',
    email: 'enabled-only@example.test',
    phone: null,
    enabledAt: new Date('2026-01-02T03:04:05.006Z'),
  },
} satisfies Record<string, OldUser>;

async function rows<T extends pg.QueryResultRow>(client: pg.Client, sql: string): Promise<T[]> {
  return (await client.query<T>(sql)).rows;
}

describe('the user_factors migration', () => {
  it('moves every phone with two-factor on to a phone factor, and leaves the rest as it was', async () => {
    const database = await createTestDatabase();
    const client = new pg.Client({ connectionString: database.url });
    try {
      const before = await applyMigrations(database.url, { upTo: BEFORE });
      assert.equal(before.at(-1), BEFORE);
      assert.ok(!before.includes(FACTORS));

      await client.connect();
      for (const [index, person] of Object.values(people).entries()) {
        await client.query(
          `INSERT INTO users (id, email, password_hash, role, phone_number, two_factor_enabled_at, locked_at, session_generation, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
          [
            person.id,
            person.email,
            `$argon2id$v=19$m=19456,t=2,p=1$salt${index}$hash${index}`,
            index === 1 ? 'ADMIN' : 'USER',
            person.phone,
            person.enabledAt,
            index === 2 ? new Date('2026-05-05T05:05:05.005Z') : null,
            index,
            new Date(Date.UTC(2026, 0, 1 + index)),
          ],
        );
        await client.query(
          `INSERT INTO audit_events (type, outcome, user_id, ip, user_agent, detail) VALUES
             ('sign_up', 'succeeded', $1, '203.0.113.7', 'Firefox on Linux', NULL),
             ($2, 'succeeded', $1, '203.0.113.7', 'Firefox on Linux', $3)`,
          [person.id, person.enabledAt ? 'two_factor_enabled' : 'sign_in_password', JSON.stringify({ phone: '•• 01' })],
        );
      }
      const usersSql =
        'SELECT id, email, password_hash, role, locked_at, session_generation, created_at, updated_at FROM users ORDER BY id';
      // The columns the trail had at this migration (later ones, such as user_pseudonym, come after).
      const auditSql = 'SELECT id, at, type, outcome, user_id, ip, user_agent, detail FROM audit_events ORDER BY id';
      const usersBefore = await rows(client, usersSql);
      const auditBefore = await rows(client, auditSql);
      assert.equal(usersBefore.length, 5);
      assert.equal(auditBefore.length, 10);

      const rest = await applyMigrations(database.url);
      assert.equal(rest[0], FACTORS, 'the rest starts with the user_factors migration');

      const factors = await rows<{
        id: string;
        user_id: string;
        kind: string;
        label: string | null;
        phone_number: string | null;
        created_at: Date;
        last_used_at: Date | null;
      }>(client, 'SELECT * FROM user_factors ORDER BY user_id');
      assert.deepEqual(
        factors.map(({ user_id, kind, label, phone_number, created_at, last_used_at }) => ({
          user_id,
          kind,
          label,
          phone_number,
          created_at,
          last_used_at,
        })),
        [people.on, people.onToo].map((person) => ({
          user_id: person.id,
          kind: 'phone',
          label: null,
          phone_number: person.phone,
          created_at: person.enabledAt,
          last_used_at: null,
        })),
        'exactly one phone factor per person with two-factor on, none for the others',
      );
      assert.equal(
        new Set(factors.map((factor) => factor.id)).size,
        factors.length,
        'each factor has an id of its own',
      );

      assert.deepEqual(await rows(client, usersSql), usersBefore, 'users, ids, emails and password hashes are intact');
      assert.deepEqual(await rows(client, auditSql), auditBefore, 'the audit trail is intact');
      const columns = await rows<{ column_name: string }>(
        client,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'users' AND column_name IN ('phone_number', 'two_factor_enabled_at')",
      );
      assert.deepEqual(columns, [], 'the old columns are gone');
    } finally {
      await client.end().catch(() => {});
      await database.drop();
    }
  });

  it('refuses a migration name it does not have', async () => {
    await assert.rejects(
      applyMigrations('postgresql://unused.invalid/none', { upTo: '20990101000000_nope' }),
      /No migration named 20990101000000_nope/,
    );
  });
});
