// Everything the app needs from the outside world, opened once at start-up and closed once
// at shutdown. Kept apart from createApp so that building an app does no I/O.
import type { Config } from '../config.js';
import { openDatabase, type Database } from './db/client.js';
import type { Logger } from './logger.js';
import { openSessionStore, type SessionStore } from './sessions.js';

export interface Services {
  database: Database;
  sessions: SessionStore;
  close(): Promise<void>;
}

export async function openServices(config: Config, logger: Logger): Promise<Services> {
  const database = await openDatabase(config.database, logger);
  let sessions: SessionStore;
  try {
    sessions = await openSessionStore(config.redisUrl, logger);
  } catch (error) {
    await database.close();
    throw error;
  }
  return {
    database,
    sessions,
    async close() {
      await Promise.allSettled([sessions.close(), database.close()]);
    },
  };
}
