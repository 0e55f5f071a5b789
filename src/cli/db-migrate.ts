// `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded
// database when it is not set, then exits.
import { loadConfig } from '../config.js';
import { startEmbeddedPostgres } from '../core/db/embedded-postgres.js';
import { applyMigrations } from '../core/db/migrations.js';

const { database } = loadConfig();
const embedded = database.url ? undefined : await startEmbeddedPostgres(database.pgliteDataDir);
try {
  const applied = await applyMigrations(database.url ?? embedded!.url);
  console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
} finally {
  await embedded?.stop();
}
