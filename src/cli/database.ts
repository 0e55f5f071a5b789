// The database a one-off command works on: DATABASE_URL, or else the embedded one, reached
// through the running app when it has the data directory open (so no write is lost).
import type { Config } from '../config.js';
import { attachEmbeddedPostgres } from '../core/db/embedded-postgres.js';

export interface CommandDatabase {
  url: string;
  /** Stops the embedded database this command opened itself; a running app's is left running. */
  close(): Promise<void>;
}

export async function commandDatabase(config: Config['database']): Promise<CommandDatabase> {
  if (config.url) return { url: config.url, close: () => Promise.resolve() };
  const embedded = await attachEmbeddedPostgres(config.pgliteDataDir);
  if (embedded.owner) console.log(`Using the database of the running app (process ${embedded.owner.pid}).`);
  return { url: embedded.url, close: () => embedded.stop() };
}
