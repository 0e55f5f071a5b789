// Rate limits shared by every instance (Redis), or kept in this process without Redis.
// A limit that cannot be checked because Redis fails does not let the request through: the
// error becomes a "temporarily unavailable" page (fail closed).
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { DependencyUnavailableError, RateLimitedError } from './errors.js';

export { RateLimitedError };
import type { RedisClient } from './redis.js';

export interface Rule {
  /** Also the key prefix in Redis, and the reason written to the audit trail. */
  name: string;
  /** How many hits are allowed... */
  points: number;
  /** ...per this many seconds. */
  durationSec: number;
  /** Once over the limit, refuse for this long (default: until the window ends). */
  blockSec?: number;
}

export interface Limit {
  readonly rule: Rule;
  /** Counts one hit for `key`; throws RateLimitedError when over the limit. */
  hit(key: string): Promise<void>;
  /** Throws RateLimitedError when `key` has used up its hits or is blocked, without counting. */
  check(key: string): Promise<void>;
  /** How many hits `key` has in the current window, and when that window ends. */
  peek(key: string): Promise<{ consumed: number; msBeforeNext: number }>;
  /** Refuses `key` for `seconds`, whatever its count. */
  block(key: string, seconds: number): Promise<void>;
  reset(key: string): Promise<void>;
}

function translate(rule: Rule, error: unknown): never {
  if (error instanceof RateLimiterRes) throw new RateLimitedError(rule.name, error.msBeforeNext);
  throw new DependencyUnavailableError('rate limiter', { cause: error });
}

export type LimitFactory = (rule: Rule) => Limit;

export function limitFactory(redis: RedisClient | undefined, redisPrefix: string): LimitFactory {
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
      async hit(key) {
        await limiter.consume(key).catch((error: unknown) => translate(rule, error));
      },
      async check(key) {
        const state = await limiter.get(key).catch((error: unknown) => translate(rule, error));
        if (state && state.consumedPoints >= rule.points) throw new RateLimitedError(rule.name, state.msBeforeNext);
      },
      async peek(key) {
        const state = await limiter.get(key).catch((error: unknown) => translate(rule, error));
        return { consumed: state?.consumedPoints ?? 0, msBeforeNext: state?.msBeforeNext ?? 0 };
      },
      async block(key, seconds) {
        await limiter.block(key, seconds).catch((error: unknown) => translate(rule, error));
      },
      async reset(key) {
        await limiter.delete(key).catch((error: unknown) => translate(rule, error));
      },
    };
  };
}
