// Session storage: Redis when REDIS_URL is set (shared by every instance), otherwise an
// in-process store that prunes expired sessions, for a single development process. Whatever
// the store, its failures are DependencyUnavailableError, and no answer goes out before the
// session it relies on is stored. Ending every session of a user needs no list of them (see
// END_EVERY_SESSION in accounts).
import type { CookieOptions, Request, RequestHandler, Response } from 'express';
import session, { Store, type SessionData, type SessionOptions } from 'express-session';
import createMemoryStore from 'memorystore';
import { RedisStore } from 'connect-redis';
import { DependencyUnavailableError } from './errors.js';
import type { Logger } from './logger.js';
import { REDIS_TIMEOUT_MS, type Redis } from './redis.js';

export interface SessionStore {
  store: Store;
  kind: 'redis' | 'memory';
  /** Resolves when the store answers, rejects otherwise. */
  check(): Promise<void>;
  close(): Promise<void>;
}

const MEMORY_PRUNE_INTERVAL_MS = 10 * 60_000;

type Callback = (error?: unknown) => void;

function unavailable(error: unknown): DependencyUnavailableError {
  return error instanceof DependencyUnavailableError
    ? error
    : new DependencyUnavailableError('session store', { cause: error });
}

/**
 * The callback a store operation calls, made to answer exactly once: with the store's own
 * answer (its error made DependencyUnavailableError), or with a time-out error when the store
 * is silent for `timeLimitMs`. A store that stops answering would otherwise hold the request
 * for as long as its connection stays open.
 */
function answering<T>(timeLimitMs: number | undefined, callback: ((error?: unknown, value?: T) => void) | undefined) {
  let answered = false;
  const answer = (error?: unknown, value?: T) => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    if (error) callback?.(unavailable(error));
    else callback?.(null, value);
  };
  const timer =
    timeLimitMs === undefined
      ? undefined
      : setTimeout(() => answer(new Error(`the session store did not answer within ${timeLimitMs} ms`)), timeLimitMs);
  return answer;
}

/**
 * Sessions stored by storeBeforeAnswering as the answer goes out: nothing changes them after,
 * and express-session, which then saves a session whose ID changed (a sign-in's) again or touches
 * one that did not, would store the same thing twice (the cookie's expiry a moment later).
 */
const storedForTheAnswer = new WeakSet<object>();

/**
 * The store as express-session and Passport use it (load, save, touch, and destroy for
 * regenerate and sign-out), its errors and silences made DependencyUnavailableError, so each
 * of those failures is the calm 503 wherever it happens.
 */
class ReportingStore extends Store {
  constructor(
    private readonly inner: Store,
    private readonly timeLimitMs?: number,
  ) {
    super();
  }

  get(sid: string, callback: (error: unknown, session?: SessionData | null) => void): void {
    this.inner.get(sid, answering(this.timeLimitMs, callback));
  }

  set(sid: string, data: SessionData, callback?: Callback): void {
    if (storedForTheAnswer.has(data)) return void callback?.();
    this.inner.set(sid, data, answering(this.timeLimitMs, callback));
  }

  destroy(sid: string, callback?: Callback): void {
    this.inner.destroy(sid, answering(this.timeLimitMs, callback));
  }

  override touch(sid: string, data: SessionData, callback?: Callback): void {
    if (storedForTheAnswer.has(data)) callback?.();
    else if (this.inner.touch) this.inner.touch(sid, data, answering(this.timeLimitMs, callback));
    else callback?.();
  }
}

/** Sessions in Redis when there is one, otherwise in this process. */
export function openSessionStore(redis: Redis | undefined, logger: Logger, redisPrefix: string): SessionStore {
  if (!redis) {
    const MemoryStore = createMemoryStore(session);
    const store = new MemoryStore({ checkPeriod: MEMORY_PRUNE_INTERVAL_MS });
    logger.warn(
      'sessions are kept in this process: they are lost on restart and not shared between instances (set REDIS_URL to use Redis)',
    );
    return {
      store: new ReportingStore(store),
      kind: 'memory',
      check: () => Promise.resolve(),
      close: () => {
        store.stopInterval();
        return Promise.resolve();
      },
    };
  }
  return {
    store: new ReportingStore(
      new RedisStore({ client: redis.client, prefix: `${redisPrefix}sess:` }),
      REDIS_TIMEOUT_MS,
    ),
    kind: 'redis',
    check: () => redis.check(),
    // The Redis client is shared and closed by its owner.
    close: () => Promise.resolve(),
  };
}

// Headers that belong to the answer a route meant to give; a 503 page given instead drops them.
const ANSWER_HEADERS = ['Location', 'Content-Type', 'Content-Length', 'Content-Disposition', 'ETag', 'Last-Modified'];

/**
 * The session's data as the store keeps it; the cookie's own expiry is left out. A copy without
 * it, not a replacer function: V8 serialises a plain object two to three times faster than it calls
 * a replacer on every value, and this runs twice on every request that has a session.
 */
function contentOf(data: session.Session): string {
  return JSON.stringify({ ...data, cookie: undefined });
}

/**
 * Makes a changed session be stored before the answer's first byte: if the store fails, the
 * answer becomes the 503 page (through `next`), instead of a page whose form token, sign-in or
 * message was never kept. Express-session would store it only after writing the answer.
 */
function storeBeforeAnswering(
  req: Request,
  res: Response,
  next: (error: unknown) => void,
  cookie: { name: string; options: CookieOptions },
  worthKeeping: (session: session.Session) => boolean,
): void {
  const loadedId = req.sessionID;
  const loadedContent = contentOf(req.session);
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  res.end = ((...args: unknown[]) => {
    res.end = end as Response['end'];
    // A session not worth keeping (a visitor's; one signed out, cancelled or timed out) is
    // neither stored nor sent: the store forgets it, if it had it, and so does the browser.
    if (req.session && !worthKeeping(req.session) && !res.headersSent) {
      const held = req.session;
      delete (req as { session?: unknown }).session;
      if (!req.headers.cookie?.includes(`${cookie.name}=`)) return end(...args);
      res.clearCookie(cookie.name, cookie.options);
      held.destroy((error) => {
        // Nothing in it grants anything, so a store that fails here only keeps it until it expires.
        if (error) req.log?.warn({ err: error }, 'an emptied session could not be removed from the store');
        end(...args);
      });
      return res;
    }
    const content = req.session && contentOf(req.session);
    const changed = content !== undefined && (req.sessionID !== loadedId || content !== loadedContent);
    if (!changed || res.headersSent) return end(...args);
    const stored = req.session;
    // The idle timeout runs from this request: express-session would move the cookie's expiry
    // on only as it writes the headers, after this save, and the store sets the session's own
    // expiry from the one it is given (the last save's, or long past for an active person).
    stored.touch();
    stored.save((error) => {
      if (!error) {
        storedForTheAnswer.add(stored);
        return void end(...args);
      }
      // Forget the session: nothing of it is stored or sent from here on.
      delete (req as { session?: unknown }).session;
      // An error page (the error handler's own, say) goes out as it is, without its session.
      if (res.statusCode >= 400) return void end(...args);
      for (const header of ANSWER_HEADERS) res.removeHeader(header);
      next(unavailable(error));
    });
    return res;
  }) as Response['end'];
}

/**
 * express-session over a store that can fail. A session that cannot be loaded is a 503 that
 * changed nothing. One that cannot be stored is a 503 before any answer goes out. What
 * express-session still does after the answer (extending an unchanged session's expiry) only
 * logs its failure: it would otherwise call `next` again, and Express, finding the answer
 * already sent, would drop the connection. A request without a session cookie gets its session
 * only if something reads it: most of them are visitors' pages, which would throw it away (about
 * 80 µs of CPU on `GET /login`, bench/findings.md).
 */
export function sessions(options: SessionOptions, worthKeeping: (session: session.Session) => boolean): RequestHandler {
  const handle = session(options);
  const { httpOnly, sameSite, secure, path } = (options.cookie ?? {}) as session.CookieOptions;
  const clearing = {
    name: options.name ?? 'connect.sid',
    options: { httpOnly, sameSite, secure: secure === true, path },
  };
  const load = (req: Request, res: Response, next: (error?: unknown) => void, then: () => void) => {
    let loaded = false;
    handle(req, res, (error?: unknown) => {
      if (loaded) {
        req.log?.warn({ err: error }, 'the session store failed after the answer was sent');
        return;
      }
      loaded = true;
      if (error instanceof DependencyUnavailableError) {
        return next(new DependencyUnavailableError(error.dependency, { cause: error.cause, nothingChanged: true }));
      }
      if (error) return next(error);
      // express-session leaves some requests without a session (a cookie path elsewhere).
      if (req.session) storeBeforeAnswering(req, res, next, clearing, worthKeeping);
      then();
    });
  };
  const cookiePrefix = `${clearing.name}=`;
  return (req, res, next) => {
    if (req.headers.cookie?.includes(cookiePrefix)) return load(req, res, next, next);
    // No session cookie: a visitor's page (most of them never need a session). The session is
    // made when something first reads `req.session` or `req.sessionID`, exactly as it is made
    // here otherwise: express-session makes a new one without waiting for the store.
    // sessionIfAny() asks whether there is one without making it.
    const make = () => {
      lazy.delete(req);
      delete (req as Partial<Request>).session;
      delete (req as Partial<Request>).sessionID;
      // Synchronous without a session cookie (a store not ready leaves no session, as it would here).
      load(req, res, next, () => undefined);
    };
    for (const property of ['session', 'sessionID'] as const)
      Object.defineProperty(req, property, {
        configurable: true,
        enumerable: true,
        get() {
          make();
          return req[property];
        },
        set(value: unknown) {
          make();
          Object.assign(req, { [property]: value });
        },
      });
    lazy.add(req);
    next();
  };
}

/** Requests whose session is not made yet (see `sessions`). */
const lazy = new WeakSet<Request>();

/**
 * The request's session if it has one, without making one for a request that came without a
 * session cookie: for the middleware that only looks into a session (whether it holds a sign-in).
 */
export function sessionIfAny(req: Request): Request['session'] | undefined {
  return lazy.has(req) ? undefined : req.session;
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
    const startedAt = sessionIfAny(req)?.signedInAt;
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
