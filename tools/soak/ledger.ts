// What the soak saw: every answer by status, the requests nobody answered, and the facts the
// final checks need (who was told their account or their 2FA was ready).
import type { Outcome } from '../../test/support/visitor.js';

const EXAMPLES_KEPT = 10;

export class Ledger {
  readonly statuses = new Map<number, number>();
  unansweredCount = 0;
  readonly unanswered: string[] = [];
  serverErrorCount = 0;
  /** 5xx other than the calm 503, by route. */
  readonly serverErrors: string[] = [];
  readonly wrongEntries: string[] = [];
  /** Emails whose sign-up was answered 303: the account must exist. */
  readonly signedUp = new Set<string>();
  /** Emails whose 2FA enrolment was answered 303: 2FA must be on. */
  readonly enrolled = new Set<string>();

  record(outcome: Outcome): void {
    if ('unanswered' in outcome) {
      this.unansweredCount += 1;
      if (this.unanswered.length < EXAMPLES_KEPT) this.unanswered.push(`${outcome.route}: ${outcome.unanswered}`);
      return;
    }
    this.statuses.set(outcome.status, (this.statuses.get(outcome.status) ?? 0) + 1);
    if (outcome.status >= 500 && outcome.status !== 503) {
      this.serverErrorCount += 1;
      if (this.serverErrors.length < EXAMPLES_KEPT) this.serverErrors.push(`${outcome.route}: ${outcome.status}`);
    }
  }

  get answered(): number {
    return [...this.statuses.values()].reduce((sum, count) => sum + count, 0);
  }
}
