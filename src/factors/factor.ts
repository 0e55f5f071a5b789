// The one interface every kind of second factor implements: phone codes now; authenticator
// apps, passkeys and recovery codes next. The sign-in state machine (src/sign-in) knows factors
// only through it, so a new kind is a new folder here plus a line in registry.ts.
import type { RequestContext } from '../audit/index.js';
import type { DatabaseClient } from '../core/db/client.js';
import type { UserFactor } from './repository.js';

export type { UserFactor };

/** Who a factor works for and why: limits are per person, and the audit trail says why. */
export interface FactorUse {
  /**
   * The person; for a phone verification that belongs to no account (the JSON API's), a key
   * of the number, under which its limits count.
   */
  userId: string;
  /** No account: `userId` is only a key for the limits, and the audit trail names no user. */
  accountless?: boolean;
  /** `reauthentication`: a signed-in person proving it is them before a grave change (deleting the account). */
  purpose: 'sign_in' | 'enrolment' | 'phone_verification' | 'reauthentication';
  context: RequestContext;
}

/** The user an audit event of this use names: none for an accountless use. */
export function auditedUser(use: FactorUse): string | undefined {
  return use.accountless ? undefined : use.userId;
}

/**
 * Why a step of a factor did not succeed. Reasons, never sentences: the web pages and the API
 * word them (src/web/messages.ts). `retryAfterSeconds` is there when waiting is the remedy.
 */
export interface FactorRefusal<Reason extends string = string> {
  ok: false;
  reason: Reason;
  retryAfterSeconds?: number;
}

/**
 * What the factor step of one sign-in remembers between requests (codes sent, a challenge made):
 * plain JSON, kept by the caller (the session for pages, a signed token for the API).
 */
export type Challenge = object;

export interface Begun<State extends Challenge, Reason extends string> {
  /** The step's state after this begin, kept whether or not it succeeded (a send may count). */
  challenge: State;
  outcome: { ok: true } | FactorRefusal<Reason>;
}

export interface FactorKind<
  State extends Challenge = Challenge,
  Reason extends string = string,
  Via extends string = string,
  Enrolment extends Challenge = Challenge,
  EnrolInput = unknown,
> {
  /** The `kind` of its rows in user_factors. */
  readonly kind: string;
  /** How a sign-in finished with it is recorded (audit detail `method`). */
  readonly signInMethod: string;
  /**
   * A way back in rather than a second factor (recovery codes): it never begins by default at
   * sign-in, is offered on its own page rather than among the ways to choose, and alone does
   * not turn two-factor authentication on. Its `begin` does nothing.
   */
  readonly backup?: boolean;
  /**
   * Its challenge answers once (passkeys): the sign-in forgets the step's challenge before the
   * answer is checked, and begins the step again after a refusal, so the page has a new one.
   */
  readonly singleUseChallenge?: boolean;
  /**
   * Enrolment, first half: from what the person gave (a phone number; nothing for an app; a
   * name for a passkey) make what they must answer (send a code, show a secret, a challenge).
   * `current` is an enrolment already under way, if any. Nothing is stored yet.
   */
  startEnrolment(
    use: FactorUse,
    input: EnrolInput,
    current: Enrolment | undefined,
  ): Promise<{ ok: true; enrolment: Enrolment } | FactorRefusal<Reason>>;
  /** Enrolment, second half: when the answer is right the factor is stored; `changed` when it replaced one of its kind. */
  finishEnrolment(
    use: FactorUse,
    enrolment: Enrolment,
    answer: string,
  ): Promise<{ ok: true; changed: boolean } | FactorRefusal<Reason>>;
  /**
   * At sign-in, before the person answers: send a code, make a challenge, or nothing.
   * `via` picks one of the kind's ways (phone: sms, call); `first` marks the step's first begin.
   */
  begin(
    factor: UserFactor,
    use: FactorUse,
    challenge: State | undefined,
    options: { via?: Via; first?: boolean },
  ): Promise<Begun<State, Reason>>;
  /** At sign-in: is `answer` right for this step? Wrong answers count toward the person's limits. */
  verify(
    factor: UserFactor,
    use: FactorUse,
    challenge: State | undefined,
    answer: string,
  ): Promise<{ ok: true } | FactorRefusal<Reason>>;
  /** Forgets whatever the kind keeps beside the row (a vendor's factor, say), inside the removal's transaction. */
  remove(factor: UserFactor, use: FactorUse, tx: DatabaseClient): Promise<void>;
}
