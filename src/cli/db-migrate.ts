// `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded
// database when it is not set (through the running app when it has it open), then exits.
import { loadConfig } from '../config.js';
import { applyMigrations } from '../core/db/migrations.js';
import { commandDatabase } from './database.js';

try {
  const database = await commandDatabase(loadConfig().database);
  try {
    const applied = await applyMigrations(database.url);
    console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
  } finally {
    await database.close();
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
