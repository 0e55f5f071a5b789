// Rate limits shared by every instance (Redis), or kept in this process without Redis.
// Every limit is one atomic step: a point is taken before the work it guards and given back
// when the outcome should not count, so parallel requests never get more tries than
// sequential ones (a read of the count followed by a write would let every parallel request
// pass the read). A limit that cannot be checked because Redis fails, or does not answer in
// time, does not let the request through: the error becomes a "temporarily unavailable" page
// (fail closed).
import { createHmac } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { DependencyUnavailableError, RateLimitedError } from './errors.js';

export { RateLimitedError };
import { REDIS_TIMEOUT_MS, withTimeout, type RedisClient } from './redis.js';

export interface Rule {
  /** Also the key prefix in Redis, and the reason written to the audit trail. */
  name: string;
  /** How many points may be taken... */
  points: number;
  /** ...per this many seconds. */
  durationSec: number;
  /** Once over the limit, refuse for this long (default: until the window ends). */
  blockSec?: number;
}

export interface Limit {
  readonly rule: Rule;
  /**
   * Takes one point for `key` in a single atomic step (in Redis: SET NX with the window as
   * expiry, then INCRBY, in one script) and resolves to how many are taken in the window,
   * this one included. Throws RateLimitedError when none was left (crossing the limit of a
   * rule with `blockSec` starts its block). A refused point stays counted: giving it back
   * could undo a `block` written meanwhile, and the window is full anyway.
   * `windowSec` sets the window of a key that has none yet (default: the rule's duration).
   */
  take(key: string, options?: { windowSec?: number }): Promise<number>;
  /** Gives back a point taken by `take`, for an outcome that should not count. */
  giveBack(key: string): Promise<void>;
  /** Refuses `key` for `seconds`, whatever its count. */
  block(key: string, seconds: number): Promise<void>;
  reset(key: string): Promise<void>;
}

function translate(rule: Rule, error: unknown): never {
  if (error instanceof RateLimiterRes) throw new RateLimitedError(rule.name, error.msBeforeNext);
  throw new DependencyUnavailableError('rate limiter', { cause: error });
}

/**
 * One step of a limiter, its failures translated. rate-limiter-flexible waits for Redis as
 * long as the connection stays open (its `rejectIfRedisNotReady` sees a silent connection
 * as ready), so the wait is bounded here.
 */
function step<T>(rule: Rule, operation: Promise<T>): Promise<T> {
  return withTimeout(operation, REDIS_TIMEOUT_MS, 'the rate limiter').catch((error: unknown) => translate(rule, error));
}

export type LimitFactory = (rule: Rule) => Limit;

/**
 * `secret` keys the names limits are counted under: an email, a phone number or an address
 * becomes an HMAC of it, so Redis (a SCAN, a MONITOR, a backup) holds no one's details.
 */
export function limitFactory(redis: RedisClient | undefined, redisPrefix: string, secret: string): LimitFactory {
  const keyed = createHmac('sha256', secret).update('rate-limit keys').digest();
  const nameOf = (key: string) => createHmac('sha256', keyed).update(key).digest('base64url').slice(0, 27);
  return (rule) => {
    const options = {
      keyPrefix: `${redisPrefix}limit:${rule.name}`,
      points: rule.points,
      duration: rule.durationSec,
      blockDuration: rule.blockSec ?? 0,
    };
    const limiter: RateLimiterAbstract = redis
      ? new RateLimiterRedis({ ...options, storeClient: redis, useRedisPackage: true, rejectIfRedisNotReady: true })
      : new RateLimiterMemory(options);
    return {
      rule,
      async take(key, { windowSec } = {}) {
        const state = await step(
          rule,
          limiter.consume(nameOf(key), 1, windowSec === undefined ? {} : { customDuration: windowSec }),
        );
        return state.consumedPoints;
      },
      async giveBack(key) {
        const state = await step(rule, limiter.reward(nameOf(key), 1));
        // The key ended (its window ran out, or it was reset) between taking and giving back:
        // the point given back must not become a spare one.
        if (state.consumedPoints < 0) await step(rule, limiter.delete(nameOf(key)));
      },
      async block(key, seconds) {
        await step(rule, limiter.block(nameOf(key), seconds));
      },
      async reset(key) {
        await step(rule, limiter.delete(nameOf(key)));
      },
    };
  };
}
