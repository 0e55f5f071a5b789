// The one PrismaClient of the process, on a pg pool, over either the configured Postgres or
// the embedded PGlite database.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient, type Prisma } from '../../generated/prisma/client.js';
export type { Prisma, User, UserFactor, AuditEvent, PasskeyCredential } from '../../generated/prisma/client.js';
import type { Config } from '../../config.js';
import { CommitUnconfirmedError, DependencyUnavailableError, isDependencyFailure } from '../errors.js';
import type { Logger } from '../logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { applyMigrations } from './migrations.js';

export type { PrismaClient };

/** What repositories read and write through: the client, or a transaction in progress. */
export type DatabaseClient = Prisma.TransactionClient;

/** Runs `work` in one transaction: every write in it is kept, or none is. */
export type InTransaction = <T>(work: (tx: DatabaseClient) => Promise<T>) => Promise<T>;

/**
 * One plain SQL read on the pool Prisma uses, for the few reads every signed-in page makes:
 * through Prisma each costs this process about 250 µs of CPU, through pg about 90 µs
 * (bench/findings.md). A failure of the database is DependencyUnavailableError; an error in
 * the SQL itself is thrown as it is.
 */
export type PlainRead = <Row>(text: string, values: unknown[]) => Promise<Row[]>;

/**
 * One plain SQL statement that writes, outside any transaction: the statement is its own, so
 * it is kept whole or not at all. For the few writes every sign-in makes (its audit events, its
 * session's row), which through Prisma cost several times the CPU (bench/findings.md). Answers
 * the number of rows it wrote. Fails as PlainRead does.
 */
export type PlainWrite = (text: string, values: unknown[]) => Promise<number>;

/**
 * The select list that reads a model's rows with PlainRead, from each field's column: declared
 * `satisfies Record<keyof Model, string>`, a field added to the model and not here fails to compile.
 */
export const selectList = (columns: Record<string, string>): string =>
  Object.entries(columns)
    .map(([field, column]) => `${column} AS "${field}"`)
    .join(', ');

export interface Database {
  prisma: PrismaClient;
  read: PlainRead;
  write: PlainWrite;
  inTransaction: InTransaction;
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
    // PGlite runs a single session, and its socket server keeps one connection to itself only
    // inside a transaction: statements of several pooled connections interleave and overwrite
    // each other's unnamed statements and portals ("portal does not exist"). One connection
    // serialises them; PGlite runs one query at a time anyway.
    max: embedded ? 1 : config.poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    allowExitOnIdle: true,
  });
  // An idle client losing its connection must not crash the process; the next query fails
  // and is answered with an error page instead.
  pool.on('error', (error) => logger.warn({ err: error }, 'database connection lost'));
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool),
    // A transaction waits for a connection, and runs, as long as a single query may.
    transactionOptions: { maxWait: CONNECT_TIMEOUT_MS, timeout: QUERY_TIMEOUT_MS },
  });

  // Each plain statement is prepared once per connection and then only bound and run: Postgres
  // skips parsing and planning it on every request (bench/findings.md). The texts are the code's
  // own constants, so the names stay few. Not where connections share sessions (PGlite's socket
  // server runs one session for all of them; a pooler in transaction mode hands a connection's
  // session to others): a name prepared on one would already exist, or be missing, on another.
  const statementNames = new Map<string, string>();
  const statementName = (text: string) => {
    if (embedded || !config.preparedStatements) return undefined;
    let name = statementNames.get(text);
    if (!name) statementNames.set(text, (name = `plain_${statementNames.size + 1}`));
    return name;
  };
  const plain = async (text: string, values: unknown[]) => {
    try {
      return await pool.query({ name: statementName(text), text, values });
    } catch (error) {
      // Postgres' own answer to the statement (a syntax or type error) is a bug of ours;
      // anything else (no connection, a time-out, a server going away) is the database failing.
      if (error instanceof pg.DatabaseError && !isDependencyFailure(error)) throw error;
      throw new DependencyUnavailableError('database', { cause: error });
    }
  };

  return {
    prisma,
    read: async <Row>(text: string, values: unknown[]) => (await plain(text, values)).rows as Row[],
    write: async (text, values) => (await plain(text, values)).rowCount ?? 0,
    async inTransaction(work) {
      let outcome: { failed: false } | { failed: true; error: unknown } | undefined;
      try {
        return await prisma.$transaction(async (tx) => {
          try {
            const result = await work(tx);
            outcome = { failed: false };
            return result;
          } catch (error) {
            outcome = { failed: true, error };
            throw error;
          }
        });
      } catch (error) {
        // When the work fails because the connection is gone, rolling back fails too, and
        // Prisma throws that bare driver error in place of the work's own, telling one.
        if (outcome?.failed) throw outcome.error;
        // The work was done and the commit got no answer: it may have been kept.
        if (outcome) throw new CommitUnconfirmedError({ cause: error });
        throw new DependencyUnavailableError('database', { cause: error });
      }
    },
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
