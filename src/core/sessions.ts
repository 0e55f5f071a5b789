// Session storage: Redis when REDIS_URL is set (shared by every instance), otherwise an
// in-process store that prunes expired sessions, for a single development process.
import type { Request, RequestHandler } from 'express';
import session, { type Store } from 'express-session';
import createMemoryStore from 'memorystore';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import type { Logger } from './logger.js';

export interface SessionStore {
  store: Store;
  kind: 'redis' | 'memory';
  /** Resolves when the store answers, rejects otherwise. */
  check(): Promise<void>;
  close(): Promise<void>;
}

const REDIS_TIMEOUT_MS = 2_000;
const MEMORY_PRUNE_INTERVAL_MS = 10 * 60_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function openSessionStore(
  redisUrl: string | undefined,
  logger: Logger,
): Promise<SessionStore> {
  if (!redisUrl) {
    const MemoryStore = createMemoryStore(session);
    const store = new MemoryStore({ checkPeriod: MEMORY_PRUNE_INTERVAL_MS });
    logger.warn(
      'sessions are kept in this process: they are lost on restart and not shared between instances (set REDIS_URL to use Redis)',
    );
    return {
      store,
      kind: 'memory',
      check: async () => {},
      close: () => {
        store.stopInterval();
        return Promise.resolve();
      },
    };
  }

  const client = createClient({
    url: redisUrl,
    // Fail a command at once while disconnected instead of queueing it: a request must get
    // an answer (an error page) rather than hang until Redis comes back.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: REDIS_TIMEOUT_MS,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 3_000),
    },
  });
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
  // need a session get a "temporarily unavailable" page. The client keeps reconnecting.
  const connecting = client.connect().catch(() => {});
  await withTimeout(connecting, REDIS_TIMEOUT_MS, 'Redis').catch(() => {});

  return {
    store: new RedisStore({ client, prefix: 'sess:' }),
    kind: 'redis',
    async check() {
      await withTimeout(client.ping(), REDIS_TIMEOUT_MS, 'Redis');
    },
    async close() {
      if (client.isReady) {
        await client.close();
      } else {
        client.destroy();
      }
    },
  };
}

declare module 'express-session' {
  interface SessionData {
    /** When the password was accepted; the absolute session lifetime counts from here. */
    signedInAt?: number;
    rememberMe?: boolean;
  }
}

export interface SessionLifetime {
  idleTimeoutMs: number;
  absoluteLifetimeMs: number;
  rememberMeMs: number;
}

/**
 * Ends a signed-in session once its absolute lifetime is over, however active it was. The
 * idle timeout needs no code: the cookie and the stored session expire `idleTimeoutMs` after
 * the last request (express-session's rolling cookies).
 */
export function enforceAbsoluteLifetime(lifetime: SessionLifetime): RequestHandler {
  return (req, _res, next) => {
    const startedAt = req.session?.signedInAt;
    if (startedAt === undefined) return next();
    const limit = req.session.rememberMe ? lifetime.rememberMeMs : lifetime.absoluteLifetimeMs;
    if (Date.now() - startedAt <= limit) return next();
    req.session.regenerate((error) => next(error));
  };
}

/** Makes the session cookie last for "Remember me", or only for the idle timeout. */
export function applyRememberMe(req: Request, remember: boolean, lifetime: SessionLifetime): void {
  req.session.signedInAt = Date.now();
  req.session.rememberMe = remember;
  req.session.cookie.maxAge = remember ? lifetime.rememberMeMs : lifetime.idleTimeoutMs;
}

/** Runs a callback-style session operation as a promise that always rejects with an Error. */
export function sessionStep(what: string, run: (done: (error?: unknown) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    run((error?: unknown) => {
      if (!error) resolve();
      else reject(error instanceof Error ? error : new Error(`${what} failed`, { cause: error }));
    });
  });
}

/** A new session ID with nothing in it: the old ID is destroyed in the store. */
export function regenerateSession(req: Request): Promise<void> {
  return sessionStep('session regeneration', (done) => req.session.regenerate(done));
}
