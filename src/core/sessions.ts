// Session storage: Redis when REDIS_URL is set (shared by every instance), otherwise an
// in-process store that prunes expired sessions, for a single development process.
import type { Request, RequestHandler } from 'express';
import session, { type Store } from 'express-session';
import createMemoryStore from 'memorystore';
import { RedisStore } from 'connect-redis';
import type { Logger } from './logger.js';
import type { Redis } from './redis.js';

/** Which sessions each user has, so all of them can be ended at once. */
export interface SessionIndex {
  add(userId: string, sessionId: string, lifetimeMs: number): Promise<void>;
  /** Destroys every session of the user in the store; returns how many there were. */
  destroyAll(userId: string): Promise<number>;
}

export interface SessionStore {
  store: Store;
  index: SessionIndex;
  kind: 'redis' | 'memory';
  /** Resolves when the store answers, rejects otherwise. */
  check(): Promise<void>;
  close(): Promise<void>;
}

const MEMORY_PRUNE_INTERVAL_MS = 10 * 60_000;

function destroySession(store: Store, sessionId: string): Promise<void> {
  return sessionStep('session destruction', (done) => store.destroy(sessionId, done));
}

/** Sessions in Redis when there is one, otherwise in this process. */
export function openSessionStore(redis: Redis | undefined, logger: Logger, redisPrefix: string): SessionStore {
  if (!redis) {
    const MemoryStore = createMemoryStore(session);
    const store = new MemoryStore({ checkPeriod: MEMORY_PRUNE_INTERVAL_MS });
    logger.warn(
      'sessions are kept in this process: they are lost on restart and not shared between instances (set REDIS_URL to use Redis)',
    );
    const byUser = new Map<string, Set<string>>();
    return {
      store,
      index: {
        add(userId, sessionId) {
          byUser.set(userId, (byUser.get(userId) ?? new Set()).add(sessionId));
          return Promise.resolve();
        },
        async destroyAll(userId) {
          const ids = [...(byUser.get(userId) ?? [])];
          byUser.delete(userId);
          await Promise.all(ids.map((id) => destroySession(store, id)));
          return ids.length;
        },
      },
      kind: 'memory',
      check: () => Promise.resolve(),
      close: () => {
        store.stopInterval();
        return Promise.resolve();
      },
    };
  }
  const store = new RedisStore({ client: redis.client, prefix: `${redisPrefix}sess:` });
  const indexKey = (userId: string) => `${redisPrefix}user-sessions:${userId}`;
  return {
    store,
    index: {
      async add(userId, sessionId, lifetimeMs) {
        const key = indexKey(userId);
        await redis.client.multi().sAdd(key, sessionId).pExpire(key, lifetimeMs, 'GT').exec();
        // A new key has no expiry for GT to compare with: give it one.
        await redis.client.pExpire(key, lifetimeMs, 'NX');
      },
      async destroyAll(userId) {
        const ids = await redis.client.sMembers(indexKey(userId));
        await Promise.all(ids.map((id) => destroySession(store, id)));
        await redis.client.del(indexKey(userId));
        return ids.length;
      },
    },
    kind: 'redis',
    check: () => redis.check(),
    // The Redis client is shared and closed by its owner.
    close: () => Promise.resolve(),
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
