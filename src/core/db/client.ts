// The one PrismaClient of the process, on a pg pool, over either the configured Postgres or
// the embedded PGlite database.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../generated/prisma/client.js';
import type { Config } from '../../config.js';
import type { Logger } from '../logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { applyMigrations } from './migrations.js';

export type { PrismaClient };

export interface Database {
  prisma: PrismaClient;
  /** Resolves when the database answers a query, rejects otherwise. */
  check(): Promise<void>;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 10_000;

export async function openDatabase(config: Config['database'], logger: Logger): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.url;
  if (!url) {
    embedded = await startEmbeddedPostgres(config.pgliteDataDir, config.pglitePort);
    url = embedded.url;
    logger.info(
      { dataDir: config.pgliteDataDir, url: embedded.url },
      'using the embedded PGlite database (set DATABASE_URL to use Postgres)',
    );
  }
  try {
    if (config.migrateOnStart) {
      const applied = await applyMigrations(url);
      if (applied.length) logger.info({ migrations: applied }, 'applied database migrations');
    }
  } catch (error) {
    await embedded?.stop();
    throw error;
  }

  const pool = new pg.Pool({
    connectionString: url,
    max: config.poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    allowExitOnIdle: true,
  });
  // An idle client losing its connection must not crash the process; the next query fails
  // and is answered with an error page instead.
  pool.on('error', (error) => logger.warn({ err: error }, 'database connection lost'));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });

  return {
    prisma,
    async check() {
      await prisma.$queryRaw`SELECT 1`;
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
      await embedded?.stop();
    },
  };
}
