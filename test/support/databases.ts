// A database of its own for each test app: a new database on the Postgres named by
// TEST_DATABASE_URL, or else an in-memory PGlite. Either way, real Postgres.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { eventually } from './eventually.js';
import { startEmbeddedPostgres } from '../../src/core/db/embedded-postgres.js';

export interface TestDatabase {
  url: string;
  kind: 'postgres' | 'pglite';
  drop(): Promise<void>;
}

async function onServer<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres(undefined);
    return { url: embedded.url, kind: 'pglite', drop: () => embedded.stop() };
  }
  const name = `test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await onServer(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    kind: 'postgres',
    drop: () =>
      onServer(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => {}),
  };
}

/**
 * For `describe(..., { skip: withoutPostgresServer })`: false, or why a test cannot run on the
 * embedded database (PGlite runs one session: no query waits on a lock another session holds).
 */
export const withoutPostgresServer = process.env.TEST_DATABASE_URL
  ? false
  : 'needs a Postgres server (set TEST_DATABASE_URL): PGlite runs one session, so no query can wait on a lock another one holds';

/**
 * Waits until some session of the database `blocker` is connected to waits on a lock (a request
 * parked on a row or table that `blocker`'s open transaction holds), or `sessions` of them do.
 */
export function untilWaitingOnLock(blocker: pg.Client, what: string, sessions = 1): Promise<void> {
  return eventually(async () => {
    // Within a transaction, Postgres shows the activity it saw first unless told to look again.
    await blocker.query('SELECT pg_stat_clear_snapshot()');
    const waiting = await blocker.query<{ count: string }>(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    return Number(waiting.rows[0]?.count) >= sessions;
  }, what);
}
