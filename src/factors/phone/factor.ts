// The phone factor: codes by text message, falling back to a voice call. Delivering codes
// (with the resend cooldown and the send limits), checking them (with the wrong-code lock),
// turning the factor on or moving it to a new number. Knows nothing of HTTP: what a step
// remembers (when codes went out, which verification to check) is passed in and handed back.
import type { AuditLog } from '../../audit/index.js';
import type { InTransaction } from '../../core/db/client.js';
import { RateLimitedError } from '../../core/rate-limits.js';
import {
  auditedUser,
  type Begun,
  type FactorKind,
  type FactorRefusal,
  type FactorUse,
  type UserFactor,
} from '../factor.js';
import type { FactorsRepository } from '../repository.js';
import { reserveCheck } from '../wrong-code-limit.js';
import type { CodeLimits, ResendCooldown } from './code-limits.js';
import { countryOf, phoneHint } from './numbers.js';
import { mayHaveSent, type Channel, type CheckOutcome, type CodeSender, type StartOutcome } from './senders/sender.js';

export type { Channel };

/** When codes last went out on each channel, for the resend cooldown. */
export type SentAt = Partial<Record<Channel, number>>;

/** What a code step remembers of the codes sent for it (at sign-in, or while enrolling). */
export interface CodesSent {
  sentAt: SentAt;
  /** The verification of the latest code sent, the one a check must name; absent while none went out. */
  verificationSid?: string;
  /** How the latest code went out: a call may stand in for a text refused. */
  delivery?: { channel: Channel; insteadOfText: boolean };
}

/** A number being verified before the factor is turned on (or moved to it). */
export interface PhoneEnrolment extends CodesSent {
  phone: string;
  startedAt: number;
}

/** Why no code went out. `channel` is the one asked for (or, for `unconfirmed`, the one it may have gone by). */
export type SendRefusal =
  /** A code went out on this channel less than a cooldown ago; none was sent now. */
  | { ok: false; reason: 'cooling_down'; channel: Channel; retryAfterSeconds: number }
  /** Our own send limits (per person, number, IP). */
  | { ok: false; reason: 'rate_limited'; channel: Channel; retryAfterSeconds: number }
  /** The provider may have sent a code without saying so: the send counts and the cooldown runs. */
  | { ok: false; reason: 'unconfirmed'; channel: Channel; retryAfterSeconds: number }
  /** ALLOWED_COUNTRIES does not include the number's country. */
  | { ok: false; reason: 'country_not_supported'; channel: Channel; retryAfterSeconds?: undefined }
  | {
      ok: false;
      reason:
        | Exclude<StartOutcome['status'], 'pending' | 'channel_failed' | 'unconfirmed' | 'rate_limited'>
        | 'provider_rate_limited';
      channel: Channel;
      retryAfterSeconds?: undefined;
    };

export type SendReason = SendRefusal['reason'];

export type Delivery = { ok: true; channel: Channel; verificationSid: string } | SendRefusal;

export type CheckReason =
  | Exclude<CheckOutcome['status'], 'approved' | 'rate_limited'>
  /** The provider throttled checks. */
  | 'provider_rate_limited'
  /** Our wrong-code lock: too many wrong codes for this person. */
  | 'locked'
  /** Nothing typed. */
  | 'missing_code'
  /** Not a code (not 4 to 10 digits): never reaches the provider. */
  | 'malformed'
  /** Nothing to check against: no code went out since the step began. */
  | 'no_code';

export type CodeCheck = { ok: true } | (FactorRefusal<CheckReason> & { ok: false });

export type PhoneReason = SendReason | CheckReason;

const CODE_PATTERN = /^\d{4,10}$/;

/** A code as typed; people paste codes with spaces or dashes ("123 456", "123-456"). */
export function readCode(
  raw: string,
): { ok: true; code: string } | { ok: false; reason: 'missing_code' | 'malformed' } {
  const code = raw.normalize('NFKC').replace(/[\s\-–—.]/g, '');
  if (!code) return { ok: false, reason: 'missing_code' };
  if (!CODE_PATTERN.test(code)) return { ok: false, reason: 'malformed' };
  return { ok: true, code };
}

// How each check outcome is written to the audit trail.
const CHECK_AUDIT_OUTCOME: Record<CheckReason | 'approved', string> = {
  approved: 'ok',
  wrong_code: 'wrong_code',
  expired: 'expired',
  too_many_attempts: 'locked',
  locked: 'locked',
  provider_rate_limited: 'rate_limited',
  unavailable: 'unavailable',
  missing_code: 'malformed',
  malformed: 'malformed',
  invalid_request: 'invalid_request',
  no_code: 'no_code',
};

// The outcomes that count toward the wrong-code lock: the provider judged a guess wrong. A
// right code, a malformed one, and a check the provider did not judge (no code sent, no live
// verification, a refused request, the provider down or throttling) reveal nothing about the
// code, so they are given back: a person whose codes cannot be checked during an outage is not
// locked out for it.
const COUNTS_AS_WRONG: ReadonlySet<CheckReason | 'approved'> = new Set(['wrong_code', 'too_many_attempts']);

/**
 * Start outcomes of an SMS that say nothing about calls, so a call may still reach the person:
 * a failing SMS route or a landline, SMS turned off in the Verify service (60223), SMS not
 * enabled for the country (21408; calls have their own geo permissions). A fraud block (60410)
 * or a country refused on every channel (60605) is not routed around: those blocks exist to
 * stop toll fraud, and a call to a suspect number is the costlier way to pump.
 */
const SMS_ONLY_REFUSALS: ReadonlySet<StartOutcome['status']> = new Set([
  'channel_failed',
  'channel_disabled',
  'region_not_enabled',
]);

export function phoneFactor(deps: {
  sender: CodeSender;
  repository: FactorsRepository;
  inTransaction: InTransaction;
  audit: AuditLog;
  limits: CodeLimits;
  cooldown: ResendCooldown;
  /** Countries codes may go to; empty means any. */
  allowedCountries: string[];
  resendCooldownMs: number;
  /** Whether a stored factor is a way back in (recovery codes), not a second factor: registry.isBackup. */
  isBackup?: (factor: { kind: string }) => boolean;
  now?: () => number;
}) {
  const isBackup = deps.isBackup ?? (() => false);
  const { sender, repository, inTransaction, audit, limits, cooldown, allowedCountries, resendCooldownMs } = deps;
  const now = deps.now ?? Date.now;
  const cooldownSeconds = Math.ceil(resendCooldownMs / 1000);

  /**
   * Why no code may go to this number now (country, limits), or undefined when one may: then
   * a send is reserved under every send limit.
   */
  async function refusal(phone: string, channel: Channel, use: FactorUse): Promise<SendRefusal | undefined> {
    const country = countryOf(phone);
    if (allowedCountries.length && (!country || !allowedCountries.includes(country))) {
      await audit.record({
        type: 'code_sent',
        outcome: 'country_refused',
        userId: auditedUser(use),
        context: use.context,
        detail: { channel, country: country ?? 'unknown', phone: phoneHint(phone) },
      });
      return { ok: false, reason: 'country_not_supported', channel };
    }
    try {
      await limits.reserveSend({ user: use.userId, phone, ip: use.context.ip });
      return undefined;
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      await audit.record({
        type: 'rate_limited',
        outcome: 'refused',
        userId: auditedUser(use),
        context: use.context,
        detail: { rule: error.rule, phone: phoneHint(phone) },
      });
      return { ok: false, reason: 'rate_limited', channel, retryAfterSeconds: error.retryAfterSeconds };
    }
  }

  /** Sends a code within the send limits. */
  async function send(phone: string, channel: Channel, use: FactorUse): Promise<Delivery> {
    const refused = await refusal(phone, channel, use);
    if (refused) return refused;
    const keys = { user: use.userId, phone, ip: use.context.ip };
    let outcome = await sender.start(phone, channel);
    let maybeSent = mayHaveSent(outcome);
    let fellBack = false;
    if (channel === 'sms' && SMS_ONLY_REFUSALS.has(outcome.status)) {
      outcome = await sender.start(phone, 'call');
      maybeSent ||= mayHaveSent(outcome);
      fellBack = true;
    }
    const delivery: Delivery =
      outcome.status === 'pending'
        ? { ok: true, channel: outcome.channel, verificationSid: outcome.sid }
        : maybeSent
          ? {
              ok: false,
              reason: 'unconfirmed',
              channel: fellBack ? 'call' : channel,
              retryAfterSeconds: cooldownSeconds,
            }
          : outcome.status === 'channel_failed' || outcome.status === 'unconfirmed'
            ? { ok: false, reason: 'unavailable', channel }
            : {
                ok: false,
                reason: outcome.status === 'rate_limited' ? 'provider_rate_limited' : outcome.status,
                channel: fellBack ? 'call' : channel,
              };
    // A send the provider surely did not make (unreachable, refusing the request) is no one's
    // doing: it does not count. A refused number does, or numbers could be probed through us
    // without limit; so does a send whose fate is unknown, or a slow provider would send
    // codes past every limit.
    if (!delivery.ok && delivery.reason === 'unavailable') await limits.giveBackSend(keys);
    await audit.record({
      type: 'code_sent',
      outcome: delivery.ok ? 'ok' : delivery.reason === 'provider_rate_limited' ? 'rate_limited' : delivery.reason,
      userId: auditedUser(use),
      context: use.context,
      detail: {
        channel: delivery.ok || delivery.reason === 'unconfirmed' ? delivery.channel : channel,
        requested: channel,
        fellBack,
        purpose: use.purpose,
        phone: phoneHint(phone),
      },
    });
    return delivery;
  }

  /**
   * Sends a code on `channel`. An SMS that cannot be delivered (a landline, a failing route,
   * SMS refused for this number while calls are not) becomes a voice call. At most one code
   * goes out per cooldown for the person, the number and the channel: the channel is claimed
   * before anything is sent and freed again when nothing was. The first code of a sign-in
   * (`evenIfCoolingDown`) goes out regardless, so that a new sign-in never depends on a code
   * sent for another one, and starts the cooldown.
   */
  async function deliver(
    phone: string,
    channel: Channel,
    use: FactorUse,
    options: { evenIfCoolingDown?: boolean } = {},
  ): Promise<Delivery> {
    const claimed = !options.evenIfCoolingDown;
    if (claimed) {
      try {
        await cooldown.claim(use.userId, phone, channel);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        return { ok: false, reason: 'cooling_down', channel, retryAfterSeconds: error.retryAfterSeconds };
      }
    }
    const delivery = await send(phone, channel, use);
    // A code that may be on its way holds the channel like one that is.
    if (delivery.ok || delivery.reason === 'unconfirmed') {
      await Promise.all(
        [...new Set([channel, delivery.channel])].map((sent) => cooldown.start(use.userId, phone, sent)),
      );
    } else if (claimed) {
      await cooldown.release(use.userId, phone, channel);
    }
    return delivery;
  }

  /**
   * Sends a code for a step and records what the step must remember: when (for the countdown),
   * which verification, by which channel. A press refused for the cooldown changes nothing, so
   * it cannot overwrite what the press that did send recorded.
   */
  async function sendForStep<State extends CodesSent>(
    state: State,
    phone: string,
    channel: Channel,
    use: FactorUse,
    options: { evenIfCoolingDown?: boolean } = {},
  ): Promise<{ state: State; delivery: Delivery }> {
    const delivery = await deliver(phone, channel, use, options);
    if (delivery.ok) {
      const at = now();
      return {
        delivery,
        state: {
          ...state,
          sentAt: { ...state.sentAt, [channel]: at, [delivery.channel]: at },
          // A resend may start a new verification (the last one expired or was used up): keep the latest.
          verificationSid: delivery.verificationSid,
          delivery: { channel: delivery.channel, insteadOfText: channel === 'sms' && delivery.channel === 'call' },
        },
      };
    }
    // A code that may be on its way starts the countdown, as the cooldown does on the server.
    if (delivery.reason === 'unconfirmed') {
      const at = now();
      return { delivery, state: { ...state, sentAt: { ...state.sentAt, [channel]: at, [delivery.channel]: at } } };
    }
    return { delivery, state };
  }

  /**
   * Checks a code as typed against the verification whose code was last sent for this step.
   * A code that is not 4 to 10 digits, or a step with no code sent, never reaches the provider.
   */
  async function check(state: CodesSent | undefined, raw: string, use: FactorUse): Promise<CodeCheck> {
    const typed = readCode(raw);
    const locked = await reserveCheck(limits, audit, use, {});
    if (locked) return locked;
    const verificationSid = state?.verificationSid;
    const status: CheckReason | 'approved' = !typed.ok
      ? typed.reason
      : verificationSid
        ? await sender
            .check(verificationSid, typed.code)
            .then(({ status }) => (status === 'rate_limited' ? 'provider_rate_limited' : status))
        : 'no_code';
    if (!COUNTS_AS_WRONG.has(status)) await limits.giveBackCheck(use.userId);
    await audit.record({
      type: 'code_checked',
      outcome: CHECK_AUDIT_OUTCOME[status],
      userId: auditedUser(use),
      context: use.context,
      detail: { purpose: use.purpose },
    });
    return status === 'approved' ? { ok: true } : { ok: false, reason: status };
  }

  const kind = {
    kind: 'phone',
    signInMethod: 'password_and_code',

    /**
     * Starts verifying `phone` before the factor is turned on (or moved to it): sends its first
     * code. A press within the cooldown sends nothing; `stillValid` then says whether the
     * code this enrolment already has went to this number.
     */
    async startEnrolment(use: FactorUse, phone: string, current: PhoneEnrolment | undefined) {
      const { state, delivery } = await sendForStep<PhoneEnrolment>(
        { phone, startedAt: now(), sentAt: {} },
        phone,
        'sms',
        use,
      );
      if (delivery.ok) return { ok: true as const, enrolment: state };
      const stillValid =
        delivery.reason === 'cooling_down' && current?.phone === phone && current.verificationSid !== undefined;
      return { ...delivery, stillValid };
    },

    /**
     * Checks the enrolment's code and, when it is right, turns the phone factor on with that
     * number, or moves the person's phone factor to it. Only a number whose code was just
     * checked is ever stored.
     */
    async finishEnrolment(
      use: FactorUse,
      enrolment: PhoneEnrolment,
      answer: string,
    ): Promise<{ ok: true; changed: boolean } | FactorRefusal<CheckReason>> {
      const checked = await check(enrolment, answer, use);
      if (!checked.ok) return checked;
      const changed = await inTransaction(async (tx) => {
        await repository.lockUser(use.userId, tx);
        const factors = await repository.listForUser(use.userId, tx);
        const existing = factors.find((factor) => factor.kind === 'phone');
        if (existing) await repository.update(existing.id, { phoneNumber: enrolment.phone }, tx);
        else await repository.add({ userId: use.userId, kind: 'phone', phoneNumber: enrolment.phone }, tx);
        await audit.record(
          {
            // A phone beside another kind of factor adds a factor; the first factor turns 2FA on.
            type: existing
              ? 'phone_changed'
              : factors.some((factor) => !isBackup(factor))
                ? 'factor_added'
                : 'two_factor_enabled',
            outcome: 'ok',
            userId: auditedUser(use),
            context: use.context,
            detail: { phone: phoneHint(enrolment.phone) },
          },
          tx,
        );
        return existing !== undefined;
      });
      return { ok: true, changed };
    },

    async begin(
      factor: UserFactor,
      use: FactorUse,
      challenge: CodesSent | undefined,
      { via = 'sms', first = false }: { via?: Channel; first?: boolean },
    ): Promise<Begun<CodesSent, PhoneReason>> {
      const { state, delivery } = await sendForStep(challenge ?? { sentAt: {} }, factor.phoneNumber ?? '', via, use, {
        evenIfCoolingDown: first,
      });
      return { challenge: state, outcome: delivery.ok ? { ok: true } : delivery };
    },

    verify: (_factor: UserFactor, use: FactorUse, challenge: CodesSent | undefined, answer: string) =>
      check(challenge, answer, use),

    // Nothing beside the row: Twilio Verify keeps no factor for a phone.
    remove: () => Promise.resolve(),
  } satisfies FactorKind<CodesSent, PhoneReason, Channel, PhoneEnrolment, string>;

  return {
    ...kind,
    deliver,
    check,
    now,

    /** Milliseconds until another code may be sent on `channel`; 0 when it may be now. */
    cooldownRemaining(sentAt: SentAt, channel: Channel): number {
      const last = sentAt[channel];
      return last === undefined ? 0 : Math.max(0, last + resendCooldownMs - now());
    },

    /** Sends the enrolment's number another code ("Resend code", "Call me instead"). */
    resendEnrolment: (use: FactorUse, enrolment: PhoneEnrolment, channel: Channel) =>
      sendForStep(enrolment, enrolment.phone, channel, use),

    /** Sends the sign-in's phone another code on `channel` ("Resend code", "Call me instead"). */
    resend: (factor: UserFactor, use: FactorUse, challenge: CodesSent | undefined, channel: Channel) =>
      kind.begin(factor, use, challenge, { via: channel }),
  };
}

export type PhoneFactor = ReturnType<typeof phoneFactor>;
