// Limits on password guessing. Per IP: a fixed number of failures per 15 minutes. Per account
// (keyed by the email typed, so an unknown email behaves exactly like a known one): after a
// few consecutive failures the account locks for 30 seconds, doubling with each further
// failure up to a ceiling, so a guesser gets very few tries an hour, and a real person
// locked out by someone else waits minutes, not days. NIST SP 800-63B asks for no more than
// 100 consecutive failures without a lock; here a lock comes after the fifth.
import type { Limits } from '../config.js';
import type { Logger } from '../core/logger.js';
import { RateLimitedError, type LimitFactory } from '../core/rate-limits.js';

const IP_WINDOW_SEC = 15 * 60;
const FAILURE_MEMORY_SEC = 24 * 3600;
const FIRST_LOCK_SEC = 30;

export function signInLimits(limit: LimitFactory, limits: Limits, logger: Logger) {
  // Counted across every instance, so the warning fires once per minute for the deployment.
  const failuresEverywhere = limit({ name: 'sign_in_failures_per_minute', points: 1_000_000_000, durationSec: 60 });
  const failuresByIp = limit({ name: 'sign_in_ip', points: limits.signInsPerIp, durationSec: IP_WINDOW_SEC, blockSec: IP_WINDOW_SEC });
  const failuresByAccount = limit({ name: 'sign_in_account_failures', points: 1_000_000, durationSec: FAILURE_MEMORY_SEC });
  const accountLock = limit({ name: 'sign_in_account', points: 1, durationSec: 1 });
  const signUpsByIp = limit({ name: 'sign_up_ip', points: limits.signUpsPerIp, durationSec: 3600 });

  return {
    /** Throws RateLimitedError when this IP or this account may not try now. */
    async beforeAttempt(email: string, ip: string): Promise<void> {
      await failuresByIp.check(ip);
      await accountLock.check(email);
    },

    async failed(email: string, ip: string): Promise<void> {
      await failuresEverywhere.hit('all');
      const { consumed } = await failuresEverywhere.peek('all');
      if (consumed === limits.alertFailedSignInsPerMinute) {
        logger.warn(
          { failedSignInsLastMinute: consumed, threshold: limits.alertFailedSignInsPerMinute },
          'failed sign-ins crossed the alert threshold: possible credential stuffing',
        );
      }
      await failuresByIp.hit(ip).catch((error: unknown) => {
        // This failure is counted; the refusal comes with the next attempt.
        if (!(error instanceof RateLimitedError)) throw error;
      });
      await failuresByAccount.hit(email);
      const { consumed: consecutive } = await failuresByAccount.peek(email);
      if (consecutive >= limits.signInLockAfter) {
        const doublings = Math.min(consecutive - limits.signInLockAfter, 20);
        await accountLock.block(email, Math.min(FIRST_LOCK_SEC * 2 ** doublings, limits.signInMaxLockSeconds));
      }
    },

    async succeeded(email: string): Promise<void> {
      await failuresByAccount.reset(email);
    },

    signUp(ip: string): Promise<void> {
      return signUpsByIp.hit(ip);
    },
  };
}

export type SignInLimits = ReturnType<typeof signInLimits>;
