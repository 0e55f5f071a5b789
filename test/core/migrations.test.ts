import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { applyMigrations, writeNextMigration } from '../../src/core/db/migrations.js';
import { createTestDatabase } from '../support/databases.js';

describe('migrations', () => {
  it('applies the committed migrations once, recorded where `prisma migrate deploy` looks', async () => {
    const database = await createTestDatabase();
    try {
      const applied = await applyMigrations(database.url);
      assert.ok(applied.length >= 1);
      assert.deepEqual(await applyMigrations(database.url), [], 'a second run has nothing to do');
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ migration_name: string; finished_at: Date | null }>(
          'SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name',
        );
        assert.deepEqual(
          rows.map((row) => row.migration_name),
          applied,
        );
        assert.ok(rows.every((row) => row.finished_at));
        const columns = await client.query<{ column_name: string }>(
          "SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY column_name",
        );
        assert.deepEqual(
          columns.rows.map((row) => row.column_name),
          [
            'created_at',
            'email',
            'email_verified_at',
            'id',
            'locked_at',
            'notify_new_browser',
            'password_hash',
            'role',
            'session_generation',
            'updated_at',
          ],
        );
      } finally {
        await client.end();
      }
    } finally {
      await database.drop();
    }
  });

  it('has a migration for every change in prisma/schema.prisma', async () => {
    // writeNextMigration writes nothing when the committed migrations already match the schema.
    assert.equal(await writeNextMigration('should_not_exist'), undefined, 'run `npm run db:migration <name>`');
  });
});
