// Limits on codes, against SMS pumping (someone making us text premium numbers) and code
// guessing. Sends are limited per user, per phone number and per IP; wrong codes per user,
// after which the code step locks for an hour, whatever sessions or IPs the guesses use.
import type { Limits } from '../config.js';
import { RateLimitedError, type LimitFactory } from '../core/rate-limits.js';

const TEN_MINUTES = 600;
const DAY = 86_400;
const HOUR = 3_600;

export function codeLimits(limit: LimitFactory, limits: Limits, namePrefix = '') {
  const sends = [
    { scope: 'user', limit: limit({ name: `${namePrefix}codes_per_user_10m`, points: limits.codesPer10Minutes, durationSec: TEN_MINUTES }) },
    { scope: 'user', limit: limit({ name: `${namePrefix}codes_per_user_day`, points: limits.codesPerDay, durationSec: DAY }) },
    { scope: 'phone', limit: limit({ name: `${namePrefix}codes_per_phone_10m`, points: limits.codesPer10Minutes, durationSec: TEN_MINUTES }) },
    { scope: 'phone', limit: limit({ name: `${namePrefix}codes_per_phone_day`, points: limits.codesPerDay, durationSec: DAY }) },
    { scope: 'ip', limit: limit({ name: `${namePrefix}codes_per_ip_10m`, points: limits.codesPerIp, durationSec: TEN_MINUTES }) },
  ] as const;
  const wrongCodes = limit({ name: `${namePrefix}wrong_codes_per_user`, points: limits.wrongCodesPerUser, durationSec: HOUR, blockSec: HOUR });

  return {
    /** Counts a send; throws RateLimitedError, counting nothing, when any limit is reached. */
    async send(keys: { user: string; phone: string; ip: string }): Promise<void> {
      for (const { scope, limit: rule } of sends) {
        const { consumed, msBeforeNext } = await rule.peek(keys[scope]);
        if (consumed >= rule.rule.points) throw new RateLimitedError(rule.rule.name, msBeforeNext);
      }
      for (const { scope, limit: rule } of sends) await rule.hit(keys[scope]);
    },

    /** Throws RateLimitedError while the user's code step is locked. */
    beforeCheck(userId: string): Promise<void> {
      return wrongCodes.check(userId);
    },

    async wrongCode(userId: string): Promise<void> {
      await wrongCodes.hit(userId).catch((error: unknown) => {
        // Counted; the lock applies from the next check on.
        if (!(error instanceof RateLimitedError)) throw error;
      });
    },
  };
}

export type CodeLimits = ReturnType<typeof codeLimits>;
