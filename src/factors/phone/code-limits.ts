// Limits on codes, against SMS pumping (someone making us text premium numbers) and code
// guessing. Sends are limited per user, per phone number and per IP; wrong codes per user,
// after which the code step locks for an hour, whatever sessions or IPs the guesses use.
// Each send and each check reserves its place before the provider is asked, and gives it back
// when the outcome should not count, so parallel requests get no more than sequential ones.
import type { Limits } from '../../config.js';
import { ipLimitKey } from '../../core/ip.js';
import type { LimitFactory } from '../../core/rate-limits.js';
import type { Channel } from './senders/sender.js';

const TEN_MINUTES = 600;
const DAY = 86_400;
const HOUR = 3_600;

export interface SendKeys {
  user: string;
  phone: string;
  ip: string | undefined;
}

export function codeLimits(limit: LimitFactory, limits: Limits, namePrefix = '') {
  const sends = [
    {
      scope: 'user',
      limit: limit({
        name: `${namePrefix}codes_per_user_10m`,
        points: limits.codesPer10Minutes,
        durationSec: TEN_MINUTES,
      }),
    },
    {
      scope: 'user',
      limit: limit({ name: `${namePrefix}codes_per_user_day`, points: limits.codesPerDay, durationSec: DAY }),
    },
    {
      scope: 'phone',
      limit: limit({
        name: `${namePrefix}codes_per_phone_10m`,
        points: limits.codesPer10Minutes,
        durationSec: TEN_MINUTES,
      }),
    },
    {
      scope: 'phone',
      limit: limit({ name: `${namePrefix}codes_per_phone_day`, points: limits.codesPerDay, durationSec: DAY }),
    },
    {
      scope: 'ip',
      limit: limit({ name: `${namePrefix}codes_per_ip_10m`, points: limits.codesPerIp, durationSec: TEN_MINUTES }),
    },
  ] as const;
  const wrongCodes = limit({
    name: `${namePrefix}wrong_codes_per_user`,
    points: limits.wrongCodesPerUser,
    durationSec: HOUR,
    blockSec: HOUR,
  });

  const keyOf = (scope: (typeof sends)[number]['scope'], keys: SendKeys) =>
    scope === 'ip' ? ipLimitKey(keys.ip) : keys[scope];

  return {
    /**
     * Reserves one send under every send limit, or none: throws RateLimitedError, having
     * taken nothing, when any limit is reached.
     */
    async reserveSend(keys: SendKeys): Promise<void> {
      const taken: Array<(typeof sends)[number]> = [];
      try {
        for (const send of sends) {
          await send.limit.take(keyOf(send.scope, keys));
          taken.push(send);
        }
      } catch (error) {
        // The refusal is what the caller must hear; a give-back lost to a failing Redis only
        // errs on the strict side.
        await Promise.allSettled(taken.map((send) => send.limit.giveBack(keyOf(send.scope, keys))));
        throw error;
      }
    },

    /** Gives back a reserved send that did not go out through no fault of the number (the provider failed). */
    async giveBackSend(keys: SendKeys): Promise<void> {
      await Promise.all(sends.map((send) => send.limit.giveBack(keyOf(send.scope, keys))));
    },

    /** Reserves a check of a code; throws RateLimitedError while the user's code step is locked. */
    async reserveCheck(userId: string): Promise<void> {
      await wrongCodes.take(userId);
    },

    /** Gives back a reserved check whose code was not found wrong. */
    giveBackCheck(userId: string): Promise<void> {
      return wrongCodes.giveBack(userId);
    },
  };
}

export type CodeLimits = ReturnType<typeof codeLimits>;

/**
 * At most one code per cooldown for a person, a number and a channel, however many presses of
 * "Send code", "Resend code" or "Call me instead" arrive at once, on however many instances.
 */
export function resendCooldown(limit: LimitFactory, cooldownMs: number) {
  const cooldown = limit({ name: 'code_resend_cooldown', points: 1, durationSec: Math.ceil(cooldownMs / 1000) });
  const keyOf = (userId: string, phone: string, channel: Channel) => `${userId}:${phone}:${channel}`;

  return {
    /** Claims the channel for one send; throws RateLimitedError (with the wait) while claimed. */
    async claim(userId: string, phone: string, channel: Channel): Promise<void> {
      await cooldown.take(keyOf(userId, phone, channel));
    },

    /** Starts the cooldown for a code that went out, whether or not the channel was claimed. */
    start(userId: string, phone: string, channel: Channel): Promise<void> {
      return cooldown.block(keyOf(userId, phone, channel), Math.ceil(cooldownMs / 1000));
    },

    /** Frees a claimed channel whose code did not go out. */
    release(userId: string, phone: string, channel: Channel): Promise<void> {
      return cooldown.reset(keyOf(userId, phone, channel));
    },
  };
}

export type ResendCooldown = ReturnType<typeof resendCooldown>;
