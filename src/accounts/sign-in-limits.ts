// Limits on password guessing. Per IP: a fixed number of failures per 15 minutes (failed
// passkey sign-ins without a password count there too). Per account
// (keyed by the email typed, so an unknown email behaves exactly like a known one): after a
// few consecutive failures the account locks for 30 seconds, doubling with each further
// failure up to a ceiling, so a guesser gets very few tries an hour, and a real person
// locked out by someone else waits minutes, not days. NIST SP 800-63B asks for no more than
// 100 consecutive failures without a lock; here a lock comes after the fifth.
//
// Each attempt reserves its place before the password is verified and gives it back when the
// password was right, so however many attempts arrive at once, no more passwords are verified
// than one after the other would be.
import type { Limits } from '../config.js';
import { ipLimitKey } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import type { LimitFactory } from '../core/rate-limits.js';

const IP_WINDOW_SEC = 15 * 60;
const FAILURE_MEMORY_SEC = 24 * 3600;
const FIRST_LOCK_SEC = 30;

export function signInLimits(limit: LimitFactory, limits: Limits, logger: Logger) {
  // Counted across every instance, so the warning fires once per minute for the deployment.
  const failuresEverywhere = limit({ name: 'sign_in_failures_per_minute', points: 1_000_000_000, durationSec: 60 });
  const failuresByIp = limit({
    name: 'sign_in_ip',
    points: limits.signInsPerIp,
    durationSec: IP_WINDOW_SEC,
    blockSec: IP_WINDOW_SEC,
  });
  // Consecutive failures of the account, attempts under way included.
  const attemptsByAccount = limit({
    name: 'sign_in_account_failures',
    points: 1_000_000,
    durationSec: FAILURE_MEMORY_SEC,
  });
  // From the lock threshold on, one attempt at a time, and none while the account is locked.
  const accountLock = limit({ name: 'sign_in_account', points: 1, durationSec: FIRST_LOCK_SEC });
  const signUpsByIp = limit({ name: 'sign_up_ip', points: limits.signUpsPerIp, durationSec: 3600 });

  /** How long the account locks after its `failures`-th consecutive failure. */
  function lockSeconds(failures: number): number {
    const doublings = Math.min(failures - limits.signInLockAfter, 20);
    return Math.min(FIRST_LOCK_SEC * 2 ** doublings, limits.signInMaxLockSeconds);
  }

  /**
   * Reserves the account's next attempt and resolves to its number among the consecutive
   * failures. The attempt that reaches the threshold, and each one after it, also takes the
   * account's lock for as long as its failure would lock the account: parallel attempts are
   * refused while it runs, and it becomes the lock if it fails. (When two attempts around the
   * threshold race for the lock, the one that wins may carry a later number: its lock is then
   * longer, never shorter, than one after the other would give.)
   */
  async function reserveAccountAttempt(email: string): Promise<number> {
    const attempt = await attemptsByAccount.take(email);
    if (attempt < limits.signInLockAfter) return attempt;
    try {
      await accountLock.take(email, { windowSec: lockSeconds(attempt) });
    } catch (error) {
      // The refusal is what the caller must hear; a give-back lost to a failing Redis only
      // errs on the strict side.
      await attemptsByAccount.giveBack(email).catch(() => {});
      throw error;
    }
    return attempt;
  }

  async function countFailure(email: string, attempt: number): Promise<void> {
    const failuresThisMinute = await failuresEverywhere.take('all');
    if (failuresThisMinute === limits.alertFailedSignInsPerMinute) {
      logger.warn(
        { failedSignInsLastMinute: failuresThisMinute, threshold: limits.alertFailedSignInsPerMinute },
        'failed sign-ins crossed the alert threshold: possible credential stuffing',
      );
    }
    // The lock counts from the failure, not from when the attempt began.
    if (attempt >= limits.signInLockAfter) await accountLock.block(email, lockSeconds(attempt));
  }

  return {
    /**
     * Verifies a password (`verify` resolves whether it was right) as one attempt on the
     * account `email` from `ip`, counted against the per-IP limit and the account lock.
     * Throws RateLimitedError, verifying nothing, when this IP or this account may not try
     * now. Every password check of an account goes through here, re-authentications too, so
     * they all count toward one lock.
     */
    async attempt(email: string, ip: string | undefined, verify: () => Promise<boolean>): Promise<boolean> {
      const ipKey = ipLimitKey(ip);
      await failuresByIp.take(ipKey);
      let attempt: number;
      try {
        attempt = await reserveAccountAttempt(email);
      } catch (error) {
        // Refused before any password was verified: nothing to count against the IP.
        await failuresByIp.giveBack(ipKey).catch(() => {});
        throw error;
      }
      let matched: boolean;
      try {
        matched = await verify();
      } catch (error) {
        // No verdict on the password (the database failed, say): the attempt did not happen.
        await Promise.allSettled([
          failuresByIp.giveBack(ipKey),
          attemptsByAccount.giveBack(email),
          ...(attempt >= limits.signInLockAfter ? [accountLock.reset(email)] : []),
        ]);
        throw error;
      }
      if (matched) {
        await Promise.all([failuresByIp.giveBack(ipKey), attemptsByAccount.reset(email), accountLock.reset(email)]);
      } else {
        await countFailure(email, attempt);
      }
      return matched;
    },

    /**
     * A sign-in without a password (a passkey) from `ip`: `run` goes only while the IP's
     * sign-in failures allow, and its outcome counts as one when `failed` says so. Throws
     * RateLimitedError, running nothing, when this IP may not try now.
     */
    async withoutPassword<T>(
      ip: string | undefined,
      run: () => Promise<T>,
      failed: (outcome: T) => boolean,
    ): Promise<T> {
      const ipKey = ipLimitKey(ip);
      await failuresByIp.take(ipKey);
      let outcome: T;
      try {
        outcome = await run();
      } catch (error) {
        await failuresByIp.giveBack(ipKey).catch(() => {});
        throw error;
      }
      if (!failed(outcome)) await failuresByIp.giveBack(ipKey);
      return outcome;
    },

    async signUp(ip: string | undefined): Promise<void> {
      await signUpsByIp.take(ipLimitKey(ip));
    },
  };
}

export type SignInLimits = ReturnType<typeof signInLimits>;
