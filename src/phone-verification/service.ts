// Verifying a phone number that belongs to no account, for API clients (the JSON API's
// /api/auth/send-verification and verify-code): a code goes to the number through the phone
// factor's delivery (limits, cooldown, SMS falling back to a call, fail closed), and the code is
// checked against the latest verification sent through here for that number, never another one
// pending for it. A right code gives the caller, once, an access token whose subject is the
// verified number.
import type { AuditLog, RequestContext } from '../audit/index.js';
import { ipLimitKey } from '../core/ip.js';
import { RateLimitedError, type LimitFactory } from '../core/rate-limits.js';
import {
  parsePhone,
  phoneHint,
  type CheckReason,
  type FactorUse,
  type PhoneFactor,
  type SendReason,
} from '../factors/index.js';
import type { IssuedToken, TokenService } from '../tokens/index.js';
import type { PhoneVerificationsRepository } from './repository.js';

/** E.164 as written: a plus, then 8 to 15 digits. */
const E164 = /^\+[1-9]\d{7,14}$/;
/** Verify's verifications live 10 minutes; an older one is not worth asking about. */
const VERIFICATION_LIFETIME_MS = 10 * 60_000;

export interface RequestLimit {
  limit: number;
  remaining: number;
}

export type VerificationRefusal =
  | { ok: false; reason: 'invalid_number'; retryAfterSeconds?: undefined; limits?: RequestLimit }
  | { ok: false; reason: 'too_many_requests'; retryAfterSeconds: number; limits?: RequestLimit }
  | { ok: false; reason: SendReason; retryAfterSeconds?: number; limits?: RequestLimit };

export type CheckRefusal =
  | { ok: false; reason: 'invalid_number'; retryAfterSeconds?: undefined; limits?: RequestLimit }
  | { ok: false; reason: 'too_many_requests'; retryAfterSeconds: number; limits?: RequestLimit }
  | { ok: false; reason: CheckReason | 'used'; retryAfterSeconds?: number; limits?: RequestLimit };

export function phoneVerificationService(deps: {
  phone: Pick<PhoneFactor, 'deliver' | 'check'>;
  repository: PhoneVerificationsRepository;
  audit: AuditLog;
  limit: LimitFactory;
  tokens: Pick<TokenService, 'issue'>;
  /** How long the token of a verified number is good for. */
  tokenLifetimeMs: number;
  /** Requests per minute, per IP and per number. */
  perMinute: number;
  now?: () => number;
}) {
  const { phone, repository, audit, limit, tokens, perMinute } = deps;
  const now = deps.now ?? Date.now;
  const perIp = limit({ name: 'api_phone_per_ip', points: perMinute, durationSec: 60 });
  const perNumber = limit({ name: 'api_phone_per_number', points: perMinute, durationSec: 60 });

  const use = (e164: string, context: RequestContext): FactorUse => ({
    // Limits and the cooldown count per number: there is no account.
    userId: `phone:${e164}`,
    accountless: true,
    purpose: 'phone_verification',
    context,
  });

  /**
   * Counts the request against the per-minute limits (per IP always, per number once it is
   * one); says how many remain of the tighter one, or refuses.
   */
  async function admit(
    e164: string | undefined,
    context: RequestContext,
  ): Promise<
    | { ok: true; limits: RequestLimit }
    | { ok: false; reason: 'too_many_requests'; retryAfterSeconds: number; limits: RequestLimit }
  > {
    try {
      // IPv6 addresses count per /64, as every other limit does.
      const byIp = await perIp.take(ipLimitKey(context.ip));
      const byNumber = e164 ? await perNumber.take(e164) : 0;
      return { ok: true, limits: { limit: perMinute, remaining: Math.max(0, perMinute - Math.max(byIp, byNumber)) } };
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      await audit.record({
        type: 'rate_limited',
        outcome: 'refused',
        context,
        detail: { rule: error.rule },
      });
      return {
        ok: false,
        reason: 'too_many_requests',
        retryAfterSeconds: error.retryAfterSeconds,
        limits: { limit: perMinute, remaining: 0 },
      };
    }
  }

  /** The request counted (see admit), then the number it names, when that is E.164. */
  async function admitNumber(
    number: string,
    context: RequestContext,
  ): Promise<
    | { ok: true; e164: string; limits: RequestLimit }
    | { ok: false; reason: 'too_many_requests'; retryAfterSeconds: number; limits: RequestLimit }
    | { ok: false; reason: 'invalid_number'; limits: RequestLimit }
  > {
    // Written as E.164, and a number that exists, in its one canonical spelling (+33 06… is
    // +33 6…), so limits and codes count once per number however it is written.
    const parsed = E164.test(number) ? parsePhone(number, '') : undefined;
    const e164 = parsed?.ok ? parsed.e164 : undefined;
    const admitted = await admit(e164, context);
    if (!admitted.ok) return admitted;
    return e164
      ? { ok: true, e164, limits: admitted.limits }
      : { ok: false, reason: 'invalid_number', limits: admitted.limits };
  }

  return {
    /** Sends a code to `number` (E.164, a valid number) by text message, or by call when texts cannot reach it. */
    async send(
      number: string,
      context: RequestContext,
    ): Promise<{ ok: true; verificationSid: string; channel: string; limits: RequestLimit } | VerificationRefusal> {
      const admitted = await admitNumber(number, context);
      if (!admitted.ok) return admitted;
      const { e164, limits } = admitted;
      const delivery = await phone.deliver(e164, 'sms', use(e164, context));
      if (!delivery.ok) return { ...delivery, limits };
      await repository.record({
        phoneNumber: e164,
        verificationSid: delivery.verificationSid,
        channel: delivery.channel,
        sentAt: new Date(now()),
      });
      return { ok: true, verificationSid: delivery.verificationSid, channel: delivery.channel, limits };
    },

    /** Checks `code` for `number`: when it is right, once, an access token for the verified number. */
    async verify(
      number: string,
      code: string,
      context: RequestContext,
    ): Promise<{ ok: true; phoneNumber: string; token: IssuedToken; limits: RequestLimit } | CheckRefusal> {
      const admitted = await admitNumber(number, context);
      if (!admitted.ok) return admitted;
      const { e164, limits } = admitted;
      const pending = await repository.find(e164);
      const live = pending && now() - pending.sentAt.getTime() < VERIFICATION_LIFETIME_MS ? pending : undefined;
      const checked = await phone.check(
        live ? { sentAt: {}, verificationSid: live.verificationSid } : undefined,
        code,
        use(e164, context),
      );
      if (!checked.ok) return { ...checked, limits };
      // Approved: the verification is used up here too, so a code gives one token.
      if (!(await repository.useUp(e164, live!.verificationSid))) return { ok: false, reason: 'used', limits };
      // RFC 8176: a code read out by a call is "tel", a text message "sms".
      const amr = [live!.channel === 'call' ? 'tel' : 'sms'];
      const token = await tokens.issue({
        subject: e164,
        amr,
        lifetimeMs: deps.tokenLifetimeMs,
        claims: { phone_number: e164 },
      });
      await audit.record({
        type: 'token_issued',
        outcome: 'ok',
        context,
        detail: { kind: 'phone', amr: amr.join(' '), jti: token.jti, phone: phoneHint(e164) },
      });
      return { ok: true, phoneNumber: e164, token, limits };
    },
  };
}

export type PhoneVerificationService = ReturnType<typeof phoneVerificationService>;
