// The errors the app raises on purpose, and the one test of whether an error means a
// dependency failed us. Pages word them in src/web/errors.ts.
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
const DRIVER_UNAVAILABLE_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);
// Socket errors, and Postgres' "shutting down" / "cannot connect now" / "too many connections".
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  '57P01',
  '57P03',
  '53300',
]);

// What the Redis client throws while it has no connection (its errors carry no code).
const REDIS_CONNECTION_ERRORS = [
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
];

/** True when `error` means a dependency (database, Redis, session store) failed us, not our code. */
export function isDependencyFailure(error: unknown): boolean {
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
    const driverKind = (error as { meta?: { driverAdapterError?: { cause?: { kind?: unknown } } } }).meta
      ?.driverAdapterError?.cause?.kind;
    return PRISMA_UNAVAILABLE_CODES.has(String(code)) || DRIVER_UNAVAILABLE_KINDS.has(String(driverKind));
  }
  return true;
}
