// PGlite (Postgres compiled to WebAssembly) served on a loopback port, so that the very same
// pg driver adapter and schema engine that talk to a production Postgres talk to it too.
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts PGlite with its files in `dataDir` (in memory when undefined or `memory://`) and listens on
 * 127.0.0.1 at `port` (0 picks a free one).
 */
export async function startEmbeddedPostgres(
  dataDir: string | undefined,
  port = 0,
): Promise<EmbeddedPostgres> {
  const inMemory = !dataDir || dataDir.startsWith('memory://');
  if (!inMemory) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(inMemory ? undefined : dataDir);
  // PGlite runs one query at a time; the socket server queues them and keeps each
  // connection's transaction together, so a small pool on top of it is safe.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 16 });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw error;
  }
  const address = server.getServerConn();
  return {
    url: `postgresql://postgres:postgres@${address}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
