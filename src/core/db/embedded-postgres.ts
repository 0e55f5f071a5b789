// PGlite (Postgres compiled to WebAssembly) served on a loopback port, so that the very same
// pg driver adapter and schema engine that talk to a production Postgres talk to it too.
//
// PGlite is a database inside one process: two processes opening the same files each keep
// their own copy and overwrite each other's writes. So a data directory has one owner at a
// time, named in a lock file with its loopback URL; a one-off command (admin:create,
// db:migrate) talks to the owner through that URL instead of opening the files itself.
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** Who holds a data directory: written by the owner, read by anyone else who opens it. */
export interface DataDirOwner {
  pid: number;
  since: string;
  /** Where the owner serves the database; absent while it is still starting. */
  url?: string;
  /** Tells this owner's lock from a later one in the same file. */
  token: string;
}

const LOCK_FILE = 'owner.lock';

export class EmbeddedDatabaseInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: DataDirOwner,
  ) {
    super(
      `The embedded database in ${dataDir} is in use by process ${owner.pid} (running since ${owner.since}). ` +
        'Only one process may open it: stop that process first, or give this one another PGLITE_DATA_DIR, ' +
        'or use a Postgres server through DATABASE_URL.',
    );
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(lockFile: string): Promise<DataDirOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(lockFile, 'utf8')) as Partial<DataDirOwner>;
    return typeof owner.pid === 'number' && typeof owner.token === 'string' && typeof owner.since === 'string'
      ? (owner as DataDirOwner)
      : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Writes `owner` to a file of its own first, so a reader never sees a half-written lock. */
async function withDraft<T>(lockFile: string, owner: DataDirOwner, use: (draft: string) => Promise<T>): Promise<T> {
  const draft = `${lockFile}.${owner.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(draft, JSON.stringify(owner), { mode: 0o600 });
  try {
    return await use(draft);
  } finally {
    await rm(draft, { force: true });
  }
}

interface DataDirLock {
  /** Records where the database is served, for one-off commands to find it. */
  publish(url: string): Promise<void>;
  release(): Promise<void>;
}

/** Makes this process the owner of `dataDir`, taking over from an owner that died. */
async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const lockFile = path.join(dataDir, LOCK_FILE);
  const owner: DataDirOwner = {
    pid: process.pid,
    since: new Date().toISOString(),
    token: randomBytes(16).toString('hex'),
  };
  for (;;) {
    // link() fails when the lock file exists: of several processes, exactly one creates it.
    const claimed = await withDraft(lockFile, owner, (draft) =>
      link(draft, lockFile).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') return false;
          throw error;
        },
      ),
    );
    if (claimed) break;
    const current = await readOwner(lockFile);
    if (current && isRunning(current.pid)) throw new EmbeddedDatabaseInUseError(dataDir, current);
    // Its owner is gone (killed, crashed, powered off): take over, unless another process
    // took over in the meantime.
    if ((await readOwner(lockFile))?.token === current?.token) await rm(lockFile, { force: true });
  }
  return {
    async publish(url) {
      await withDraft(lockFile, { ...owner, url }, (draft) => rename(draft, lockFile));
    },
    async release() {
      if ((await readOwner(lockFile))?.token === owner.token) await rm(lockFile, { force: true });
    },
  };
}

/**
 * Starts PGlite with its files in `dataDir` (in memory when undefined or `memory://`) and listens on
 * 127.0.0.1 at `port` (0 picks a free one). Throws EmbeddedDatabaseInUseError when another
 * running process owns `dataDir`.
 */
export async function startEmbeddedPostgres(dataDir: string | undefined, port = 0): Promise<EmbeddedPostgres> {
  const inMemory = !dataDir || dataDir.startsWith('memory://');
  let lock: DataDirLock | undefined;
  if (!inMemory) {
    await mkdir(dataDir, { recursive: true });
    lock = await lockDataDir(dataDir);
  }
  let db: PGlite | undefined;
  try {
    db = await PGlite.create(inMemory ? undefined : dataDir);
    // PGlite runs one query at a time; the socket server queues them and keeps each
    // connection's transaction together, so a small pool on top of it is safe.
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 16 });
    await server.start();
    const url = `postgresql://postgres:postgres@${server.getServerConn()}/postgres?sslmode=disable`;
    await lock?.publish(url);
    const opened = db;
    return {
      url,
      async stop() {
        await server.stop();
        await opened.close();
        await lock?.release();
      },
    };
  } catch (error) {
    await db?.close();
    await lock?.release();
    throw error;
  }
}

/**
 * For one-off commands: the database of the process that owns `dataDir` when one is running
 * (stopping leaves it running), else an embedded database of the command's own.
 */
export async function attachEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres & { owner?: DataDirOwner }> {
  try {
    return await startEmbeddedPostgres(dataDir);
  } catch (error) {
    if (!(error instanceof EmbeddedDatabaseInUseError)) throw error;
    const { owner } = error;
    if (!owner.url) {
      throw new Error(
        `The embedded database in ${dataDir} is being opened by process ${owner.pid}. Try again in a moment.`,
        { cause: error },
      );
    }
    return { url: owner.url, owner, stop: () => Promise.resolve() };
  }
}
