// The wrong-code limit every factor's answers count in (phone codes, authenticator apps,
// passkeys, recovery codes): a guess is a guess, whichever page it is made on. A check takes
// its place before the answer is judged (parallel answers get no more tries than sequential
// ones) and the kind gives it back when the outcome should not count.
import type { AuditLog } from '../audit/index.js';
import { RateLimitedError } from '../core/rate-limits.js';
import { auditedUser, type FactorRefusal, type FactorUse } from './factor.js';

/** The limit (factors/phone/code-limits.ts `codeLimits`). */
export interface WrongCodeLimit {
  reserveCheck(userId: string): Promise<void>;
  giveBackCheck(userId: string): Promise<void>;
}

/**
 * Takes the check's place in the person's limit; when the limit holds, records the refusal
 * (`code_checked`, locked, with `detail`) and returns it, to be said with its wait.
 */
export async function reserveCheck(
  limits: WrongCodeLimit,
  audit: AuditLog,
  use: FactorUse,
  detail: Record<string, string>,
): Promise<FactorRefusal<'locked'> | undefined> {
  try {
    await limits.reserveCheck(use.userId);
    return undefined;
  } catch (error) {
    if (!(error instanceof RateLimitedError)) throw error;
    await audit.record({
      type: 'code_checked',
      outcome: 'locked',
      userId: auditedUser(use),
      context: use.context,
      detail: { purpose: use.purpose, ...detail, rule: error.rule },
    });
    return { ok: false, reason: 'locked', retryAfterSeconds: error.retryAfterSeconds };
  }
}
