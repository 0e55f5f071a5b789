// The rules of phone two-factor authentication: delivering codes (SMS, falling back to a
// call), the resend cooldown, checking codes, and turning 2FA on and off. Knows nothing of HTTP;
// the state it works on (who is at the code step, when codes went out) is passed in and out.
import type { AuditLog, RequestContext } from '../../audit/audit-log.js';
import type { InTransaction } from '../../core/db/client.js';
import { RateLimitedError } from '../../core/rate-limits.js';
import type { CodeLimits, ResendCooldown } from './code-limits.js';
import { countryOf, phoneHint } from './numbers.js';
import { mayHaveSent, MESSAGES, type Channel, type CheckOutcome, type StartOutcome, type CodeSender } from './senders/sender.js';
import type { TwoFactorRepository } from '../repository.js';

/** When codes last went out on each channel, for the resend cooldown. */
export type SentAt = Partial<Record<Channel, number>>;

export type Delivery =
  /**
   * `channel` is the one the code went by (a call when a text was refused); `verificationSid`
   * names the verification the code belongs to: keep the latest, check against it.
   */
  | { ok: true; channel: Channel; verificationSid: string }
  | { ok: false; status: Exclude<StartOutcome['status'], 'pending' | 'channel_failed' | 'unconfirmed'>; message: string; retryAfterSeconds?: number }
  /**
   * The provider may have sent a code on `channel` without saying so (it timed out, failed on
   * its side): the send counts and the cooldown runs, as for a code that went out.
   */
  | { ok: false; status: 'unconfirmed'; channel: Channel; message: string; retryAfterSeconds: number }
  /** A code went out on this channel less than a cooldown ago; none was sent now. */
  | { ok: false; status: 'cooling_down'; retryAfterSeconds: number };

export type CodeCheck =
  | CheckOutcome
  | { status: 'malformed'; message: string }
  /** Nothing to check against: no code went out since the code step began. */
  | { status: 'no_code'; message: string };

const CODE_PATTERN = /^\d{4,10}$/;

const NO_CODE_MESSAGE = 'No code has been sent yet. Use “Resend code” or “Call me instead” to get one.';

/** Who a code is for and why, for the audit trail. */
export interface CodeContext {
  userId: string;
  purpose: 'sign_in' | 'enrolment';
  context: RequestContext;
}

// How each check outcome is written to the audit trail.
const CHECK_AUDIT_OUTCOME: Record<CodeCheck['status'], string> = {
  approved: 'ok',
  wrong_code: 'wrong_code',
  expired: 'expired',
  too_many_attempts: 'locked',
  rate_limited: 'rate_limited',
  unavailable: 'unavailable',
  malformed: 'malformed',
  invalid_request: 'invalid_request',
  no_code: 'no_code',
};

// The outcomes that count toward the wrong-code lock: the provider judged a guess wrong. A
// right code, a malformed one, and a check the provider did not judge (no code sent, no live
// verification, a refused request, the provider down or throttling) reveal nothing about the
// code, so they are given back: a person whose codes cannot be checked during an outage is not
// locked out for it.
const COUNTS_AS_WRONG: ReadonlySet<CodeCheck['status']> = new Set(['wrong_code', 'too_many_attempts']);

/**
 * Start outcomes of an SMS that say nothing about calls, so a call may still reach the person:
 * a failing SMS route or a landline, SMS turned off in the Verify service (60223), SMS not
 * enabled for the country (21408; calls have their own geo permissions). A fraud block (60410)
 * or a country refused on every channel (60605) is not routed around: those blocks exist to
 * stop toll fraud, and a call to a suspect number is the costlier way to pump.
 */
const SMS_ONLY_REFUSALS: ReadonlySet<StartOutcome['status']> = new Set(['channel_failed', 'channel_disabled', 'region_not_enabled']);

/**
 * A code as typed, or why it cannot be one (so it never reaches the provider). People paste
 * codes with spaces or dashes ("123 456", "123-456"); those are not part of it.
 */
export const CODE_IS_SIX_DIGITS = 'The code is 6 digits, like 123456.';

export function readCode(raw: string): { ok: true; code: string } | { ok: false; message: string } {
  const code = raw.normalize('NFKC').replace(/[\s\-–—.]/g, '');
  if (!code) return { ok: false, message: 'Enter the 6-digit code from the message.' };
  if (!CODE_PATTERN.test(code)) return { ok: false, message: CODE_IS_SIX_DIGITS };
  return { ok: true, code };
}

export function twoFactorService(deps: {
  provider: CodeSender;
  repository: TwoFactorRepository;
  inTransaction: InTransaction;
  audit: AuditLog;
  limits: CodeLimits;
  cooldown: ResendCooldown;
  /** Countries codes may go to; empty means any. */
  allowedCountries: string[];
  resendCooldownMs: number;
  pendingLifetimeMs: number;
  now?: () => number;
}) {
  const { provider, repository, inTransaction, audit, limits, cooldown, allowedCountries, resendCooldownMs, pendingLifetimeMs } = deps;

  /**
   * Why no code may go to this number now (country, limits), or undefined when one may: then
   * a send is reserved under every send limit.
   */
  async function refusal(phone: string, channel: Channel, who: CodeContext): Promise<Delivery | undefined> {
    const country = countryOf(phone);
    if (allowedCountries.length && (!country || !allowedCountries.includes(country))) {
      await audit.record({ type: 'code_sent', outcome: 'country_refused', userId: who.userId, context: who.context, detail: { channel, country: country ?? 'unknown', phone: phoneHint(phone) } });
      return { ok: false, status: 'invalid_number', message: 'Codes cannot be sent to phone numbers in this country. Use a number from a supported country.' };
    }
    try {
      await limits.reserveSend({ user: who.userId, phone, ip: who.context.ip });
      return undefined;
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      await audit.record({ type: 'rate_limited', outcome: 'refused', userId: who.userId, context: who.context, detail: { rule: error.rule, phone: phoneHint(phone) } });
      return {
        ok: false,
        status: 'rate_limited',
        message: `Too many codes were sent. Please wait ${Math.ceil(error.retryAfterSeconds / 60)} minutes before asking for another.`,
        retryAfterSeconds: error.retryAfterSeconds,
      };
    }
  }
  const now = deps.now ?? Date.now;
  const cooldownSeconds = Math.ceil(resendCooldownMs / 1000);

  /** What a person is told when a code may or may not have gone out. */
  function unconfirmedMessage(): string {
    return `We could not confirm that your code was sent, so it may or may not arrive. In ${cooldownSeconds} seconds you can ask for a code again; then enter the latest code you receive.`;
  }

  /** Sends a code within the send limits. */
  async function send(phone: string, channel: Channel, who: CodeContext): Promise<Delivery> {
    const refused = await refusal(phone, channel, who);
    if (refused) return refused;
    const keys = { user: who.userId, phone, ip: who.context.ip };
    let outcome = await provider.start(phone, channel);
    let maybeSent = mayHaveSent(outcome);
    let fellBack = false;
    if (channel === 'sms' && SMS_ONLY_REFUSALS.has(outcome.status)) {
      outcome = await provider.start(phone, 'call');
      maybeSent ||= mayHaveSent(outcome);
      fellBack = true;
    }
    const delivery: Delivery =
      outcome.status === 'pending'
        ? { ok: true, channel: outcome.channel, verificationSid: outcome.sid }
        : maybeSent
          ? { ok: false, status: 'unconfirmed', channel: fellBack ? 'call' : channel, message: unconfirmedMessage(), retryAfterSeconds: cooldownSeconds }
          : outcome.status === 'channel_failed' || outcome.status === 'unconfirmed'
            ? { ok: false, status: 'unavailable', message: MESSAGES.unavailable }
            : { ok: false, status: outcome.status, message: outcome.message };
    // A send the provider surely did not make (unreachable, refusing the request) is no one's
    // doing: it does not count. A refused number does, or numbers could be probed through us
    // without limit; so does a send whose fate is unknown, or a slow provider would send
    // codes past every limit.
    if (!delivery.ok && delivery.status === 'unavailable') await limits.giveBackSend(keys);
    await audit.record({
      type: 'code_sent',
      outcome: delivery.ok ? 'ok' : delivery.status,
      userId: who.userId,
      context: who.context,
      detail: { channel: delivery.ok || delivery.status === 'unconfirmed' ? delivery.channel : channel, requested: channel, fellBack, purpose: who.purpose, phone: phoneHint(phone) },
    });
    return delivery;
  }

  return {
    /**
     * Sends a code on `channel`. An SMS that cannot be delivered (a landline, a failing route,
     * SMS refused for this number while calls are not) becomes a voice call. At most one code goes out per cooldown for the person, the number and the channel: the
     * channel is claimed before anything is sent and freed again when nothing was. The first
     * code of a sign-in (`evenIfCoolingDown`) goes out regardless, so that a new sign-in never
     * depends on a code sent for another one, and starts the cooldown.
     */
    async deliver(phone: string, channel: Channel, who: CodeContext, options: { evenIfCoolingDown?: boolean } = {}): Promise<Delivery> {
      const claimed = !options.evenIfCoolingDown;
      if (claimed) {
        try {
          await cooldown.claim(who.userId, phone, channel);
        } catch (error) {
          if (!(error instanceof RateLimitedError)) throw error;
          return { ok: false, status: 'cooling_down', retryAfterSeconds: error.retryAfterSeconds };
        }
      }
      const delivery = await send(phone, channel, who);
      // A code that may be on its way holds the channel like one that is.
      if (delivery.ok || delivery.status === 'unconfirmed') {
        await Promise.all([...new Set([channel, delivery.channel])].map((sent) => cooldown.start(who.userId, phone, sent)));
      } else if (claimed) {
        await cooldown.release(who.userId, phone, channel);
      }
      return delivery;
    },

    /** Milliseconds until another code may be sent on `channel`; 0 when it may be now. */
    cooldownRemaining(sentAt: SentAt, channel: Channel): number {
      const last = sentAt[channel];
      return last === undefined ? 0 : Math.max(0, last + resendCooldownMs - now());
    },

    /** True once the code step has waited longer than a sign-in may. */
    pendingExpired(startedAt: number): boolean {
      return now() - startedAt > pendingLifetimeMs;
    },

    now,

    /**
     * Checks a code as typed against the verification whose code was last sent for this step.
     * A code that is not 4 to 10 digits, or a step with no code sent, never reaches the provider.
     */
    async check(verificationSid: string | undefined, raw: string, who: CodeContext): Promise<CodeCheck> {
      const typed = readCode(raw);
      try {
        await limits.reserveCheck(who.userId);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        await audit.record({ type: 'code_checked', outcome: 'locked', userId: who.userId, context: who.context, detail: { purpose: who.purpose, rule: error.rule } });
        return {
          status: 'too_many_attempts',
          message: `Too many wrong codes. For your safety the code step is locked; try again in ${Math.ceil(error.retryAfterSeconds / 60)} minutes.`,
        };
      }
      const result: CodeCheck = !typed.ok
        ? { status: 'malformed', message: typed.message }
        : verificationSid
          ? await provider.check(verificationSid, typed.code)
          : { status: 'no_code', message: NO_CODE_MESSAGE };
      if (!COUNTS_AS_WRONG.has(result.status)) await limits.giveBackCheck(who.userId);
      await audit.record({
        type: 'code_checked',
        outcome: CHECK_AUDIT_OUTCOME[result.status],
        userId: who.userId,
        context: who.context,
        detail: { purpose: who.purpose },
      });
      return result;
    },

    /** Turns 2FA on with a number whose code was just checked, or moves it to that number. */
    enable(userId: string, phone: string, context: RequestContext): Promise<void> {
      return inTransaction(async (tx) => {
        const { wasEnabled } = await repository.enable(userId, phone, tx);
        await audit.record(
          { type: wasEnabled ? 'phone_changed' : 'two_factor_enabled', outcome: 'ok', userId, context, detail: { phone: phoneHint(phone) } },
          tx,
        );
      });
    },

    /** Turns 2FA off; the route has had the password confirmed. */
    disable(userId: string, context: RequestContext): Promise<void> {
      return inTransaction(async (tx) => {
        await repository.disable(userId, tx);
        await audit.record({ type: 'two_factor_disabled', outcome: 'ok', userId, context }, tx);
      });
    },
  };
}

export type TwoFactorService = ReturnType<typeof twoFactorService>;
