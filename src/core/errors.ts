// Error pages. Whatever went wrong, a person sees a calm page with the right status code;
// details go to the log, never to the page outside development.
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
} from 'redis';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly title = 'Something went wrong',
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

/** A rate limit refused the request; `rule` says which. */
export class RateLimitedError extends Error {
  constructor(
    readonly rule: string,
    readonly retryAfterMs: number,
  ) {
    super(`rate limit ${rule} reached`);
    this.name = 'RateLimitedError';
  }

  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.retryAfterMs / 1000));
  }
}

/** A dependency (database, session store, code provider) failed or timed out. */
export class DependencyUnavailableError extends Error {
  /** True only where it failed before the request could change anything. */
  readonly nothingChanged: boolean;

  constructor(
    readonly dependency: string,
    options?: { cause?: unknown; nothingChanged?: boolean },
  ) {
    super(`${dependency} is unavailable`, { cause: options?.cause });
    this.name = 'DependencyUnavailableError';
    this.nothingChanged = options?.nothingChanged ?? false;
  }
}

/** The database failed while committing: the change may have been kept, or not. */
export class CommitUnconfirmedError extends DependencyUnavailableError {
  constructor(options?: { cause?: unknown }) {
    super('database', options);
    this.name = 'CommitUnconfirmedError';
  }
}

// Prisma's codes for an unreachable, timed-out or exhausted database.
const PRISMA_UNAVAILABLE_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
// What Prisma's driver adapter says when the connection itself failed; a raw query reports it
// under P2010 ("raw query failed"), so the code alone does not tell.
const DRIVER_UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
// Socket errors, and Postgres' "shutting down" / "cannot connect now" / "too many connections".
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P03', '53300']);

// What the Redis client throws while it has no connection (its errors carry no code).
const REDIS_CONNECTION_ERRORS = [
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
];

function isDependencyFailure(error: unknown): boolean {
  if (error instanceof DependencyUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  if (REDIS_CONNECTION_ERRORS.some((type) => error instanceof type)) return true;
  const { code, clientVersion } = error as { code?: unknown; clientVersion?: unknown };
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  // Errors that come through Prisma: a request error with a code is about the query (a
  // broken constraint, say) unless the code says the database is out of reach; anything
  // else (a dropped connection, a pool time-out) means the database failed us.
  if (clientVersion === undefined) return false;
  if (error.name === 'PrismaClientValidationError') return false;
  if (error.name === 'PrismaClientKnownRequestError') {
    const driverKind = (error as { meta?: { driverAdapterError?: { cause?: { kind?: unknown } } } }).meta?.driverAdapterError?.cause?.kind;
    return PRISMA_UNAVAILABLE_CODES.has(String(code)) || DRIVER_UNAVAILABLE_KINDS.has(String(driverKind));
  }
  return true;
}

interface ErrorPage {
  status: number;
  title: string;
  message: string;
}

/** A wait as people say it: "45 seconds", "1 minute", "15 minutes". */
export function minutesText(seconds: number): string {
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * What a failed request may have left behind, said honestly: "nothing was changed" only where
 * that is known, and a request meant to change something may have done part of it.
 */
function afterFailure(error: unknown, req: Request, retry: string): string {
  if (error instanceof DependencyUnavailableError && error.nothingChanged) return `Nothing was changed. Please try again${retry}.`;
  if (SAFE_METHODS.has(req.method)) return `Please try again${retry}.`;
  return `Part of what you asked may already be done, so check before trying again${retry}.`;
}

function describe(error: unknown, req: Request): ErrorPage {
  if (error instanceof RateLimitedError) {
    return {
      status: 429,
      title: 'Too many attempts',
      message: `Too many attempts in a short time. For your safety, please wait ${minutesText(error.retryAfterSeconds)} and try again.`,
    };
  }
  if (error instanceof HttpError) {
    return { status: error.status, title: error.title, message: error.message };
  }
  const status = (error as { status?: unknown; statusCode?: unknown }).status;
  const type = (error as { type?: unknown }).type;
  const code = (error as { code?: unknown }).code;
  if (code === 'EBADCSRFTOKEN') {
    return {
      status: 403,
      title: 'This form has expired',
      message:
        'The form was open too long or was not sent from this site. Go back, reload the page and try again.',
    };
  }
  if (type === 'entity.too.large') {
    return { status: 413, title: 'Too much data', message: 'What you sent is too large. Shorten it and try again.' };
  }
  if (type === 'charset.unsupported' || type === 'encoding.unsupported') {
    return { status: 415, title: 'Unsupported format', message: 'What you sent is in a format this site does not read. Go back and try again.' };
  }
  if (typeof type === 'string' && (type.startsWith('entity.') || type.startsWith('request.'))) {
    return { status: 400, title: 'Bad request', message: 'What you sent could not be read. Go back and try again.' };
  }
  if (isDependencyFailure(error)) {
    return {
      status: 503,
      title: 'Temporarily unavailable',
      message: `The service is having trouble right now. ${afterFailure(error, req, ' in a minute')}`,
    };
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, title: 'Bad request', message: 'That request could not be handled. Go back and try again.' };
  }
  return {
    status: 500,
    title: 'Something went wrong',
    message: `An unexpected error stopped this page. ${afterFailure(error, req, '')}`,
  };
}

export const notFound: RequestHandler = (_req, _res, next) => {
  next(new HttpError(404, 'There is nothing at this address.', 'Page not found'));
};

export function errorHandler(options: { showDetails: boolean }): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const page = describe(error, req);
    // pino-http puts this on the request's one log line.
    if (page.status >= 500) (res as { err?: unknown }).err = error;
    if (res.headersSent) {
      // A streamed answer broke off: ending it normally would pass a truncated body as whole.
      if (!res.writableEnded) res.destroy();
      return;
    }
    // Without a session (its store failed), forms on the page could not work: show nobody
    // as signed in.
    if (!req.session) res.locals.currentUser = undefined;
    if (page.status === 503) res.set('Retry-After', '30');
    if (error instanceof RateLimitedError) res.set('Retry-After', String(error.retryAfterSeconds));
    res.status(page.status);
    const details = options.showDetails && page.status >= 500 ? String((error as Error)?.stack ?? error) : undefined;
    if (req.accepts(['html', 'json']) === 'json') {
      res.json({ error: page.title, message: page.message });
      return;
    }
    res.render('errors/error', { title: page.title, page, details }, (renderError, html) => {
      // The layout itself may need what just failed (the session, say): fall back to plain text.
      if (renderError) res.type('text/plain').send(`${page.title}\n\n${page.message}\n`);
      else res.send(html);
    });
  };
}

/**
 * Runs the steps that follow something that cannot be taken back: a change the database has
 * committed, or a code the provider has used up. Should one fail, the error page says
 * `whatHappened` instead of a "Nothing was changed" that would no longer be true.
 */
export async function afterChange<T>(whatHappened: string, steps: () => Promise<T>): Promise<T> {
  try {
    return await steps();
  } catch (error) {
    const [status, title] = isDependencyFailure(error) ? [503, 'Temporarily unavailable'] : [500, 'Something went wrong'];
    throw new HttpError(status, whatHappened, title, { cause: error });
  }
}
