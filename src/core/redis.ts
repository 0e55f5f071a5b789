// The one Redis client of the process, shared by sessions and rate limits.
import { createClient } from 'redis';
import type { Logger } from './logger.js';

/**
 * How long Redis may take to connect or to answer any one command. The client's own limits
 * do not end a wait for an answer: its command `timeout` only covers a command not yet sent,
 * and `socketTimeout` is a time without traffic, which every command sent starts again. So
 * whoever sends a command bounds the wait with `withTimeout`; a Redis that stops answering
 * then costs a request this long before its 503 page.
 */
export const REDIS_TIMEOUT_MS = 2_000;
const RECONNECT_CEILING_MS = 1_000;

function createRedisClient(url: string) {
  return createClient({
    url,
    // Fail a command at once while disconnected instead of queueing it: a request must get
    // an answer (an error page) rather than hang until Redis comes back.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: REDIS_TIMEOUT_MS,
      // While Redis is away every request that needs it is refused, so look for it again at
      // least every second: recovery follows within a second of its return.
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, RECONNECT_CEILING_MS),
    },
  });
}

export type RedisClient = ReturnType<typeof createRedisClient>;

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface Redis {
  client: RedisClient;
  check(): Promise<void>;
  close(): Promise<void>;
}

export async function openRedis(url: string, logger: Logger): Promise<Redis> {
  const client = createRedisClient(url);
  let lastError = '';
  client.on('error', (error: Error) => {
    // Reconnection attempts repeat the same error; one line per distinct failure is enough.
    if (error.message !== lastError) logger.warn({ err: error }, 'Redis connection error');
    lastError = error.message;
  });
  client.on('ready', () => {
    if (lastError) logger.info('Redis connection restored');
    lastError = '';
  });
  // Start-up does not wait for Redis: until it answers, /readyz says so and requests that
  // need it get a "temporarily unavailable" page. The client keeps reconnecting.
  const connecting = client.connect().catch(() => {});
  await withTimeout(connecting, REDIS_TIMEOUT_MS, 'Redis').catch(() => {});
  return {
    client,
    async check() {
      await withTimeout(client.ping(), REDIS_TIMEOUT_MS, 'Redis');
    },
    async close() {
      if (client.isReady) await client.close();
      else client.destroy();
    },
  };
}
