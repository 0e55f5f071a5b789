// Everything the app needs from the outside world, opened once at start-up and closed once
// at shutdown. Kept apart from createApp so that building an app does no I/O.
import type { Config } from '../config.js';
import { openMail, type Mail } from '../mail/index.js';
import { openDatabase, type Database } from './db/client.js';
import type { Logger } from './logger.js';
import { openRedis, type Redis } from './redis.js';
import { openSessionStore, type SessionStore } from './sessions.js';

export interface Services {
  database: Database;
  /** Undefined without REDIS_URL: sessions and rate limits then live in this process. */
  redis: Redis | undefined;
  sessions: SessionStore;
  /** Mail out: queued in the database, sent by a worker started here. */
  mail: Mail;
  close(): Promise<void>;
}

export async function openServices(config: Config, logger: Logger): Promise<Services> {
  const database = await openDatabase(config.database, logger);
  let redis: Redis | undefined;
  try {
    redis = config.redisUrl ? await openRedis(config.redisUrl, logger) : undefined;
  } catch (error) {
    await database.close();
    throw error;
  }
  const sessions = openSessionStore(redis, logger, config.redisPrefix);
  const mail = openMail(config.mail, database.prisma, logger);
  mail.start();
  return {
    database,
    redis,
    sessions,
    mail,
    async close() {
      // The mail worker first: it uses the database.
      await mail.close();
      await Promise.allSettled([sessions.close(), redis?.close(), database.close()]);
    },
  };
}
