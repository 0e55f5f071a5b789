// Authenticator apps through Twilio Verify's TOTP factors, with the official SDK.
//
// Each person is one Entity at Twilio, named by their user id: a random UUID that names no one,
// as Twilio advises (never the email or anything else personal). start creates a TOTP factor (unverified) and hands its binding (the
// otpauth URI for the QR code and the base32 secret for typing in) to the page once: it is never
// stored. finish verifies the factor with the first code; sign-in creates a challenge carrying
// the code and accepts only `approved`. Every other answer, error and time-out is a typed
// reason, and anything unexpected fails closed: no one gets in. Codes are never logged.
import { createHash } from 'node:crypto';
import { URI } from 'otpauth';
import type { TwilioConfig } from '../../../config.js';
import type { Logger } from '../../../core/logger.js';
import {
  failureOf,
  neverReachedTwilio,
  verifyService,
  type TwilioFailure,
  type TwilioTimer,
} from '../../twilio-client.js';
import type { TotpBackend, TotpEnrolmentStart, TotpReason, TotpStored } from './backend.js';

/** RFC 6238 as every authenticator app reads it: sent with each new factor, whatever the service's defaults. */
const FACTOR_CONFIG = {
  'config.alg': 'sha1',
  'config.codeLength': 6,
  'config.timeStep': 30,
  'config.skew': 1,
} as const;

/** Twilio's factor name (its URI's account name there): no personal data; the URI we show names the account. */
const FRIENDLY_NAME = 'Authenticator app';

export interface TwilioTotpOptions {
  /**
   * The issuer the app shows beside the account (TOTP_ISSUER, as the local back end shows).
   * Without it, Twilio's: the Verify service's `totp.issuer` or friendly name.
   */
  issuer?: string;
  now?: () => number;
  /** Told of every Twilio call (metrics). */
  timed?: TwilioTimer;
}

/** 30-second steps, as FACTOR_CONFIG asks of Twilio. */
const STEP_MS = 30_000;
/**
 * A code accepted in one step can be good again in the steps of Twilio's skew either side: each
 * code accepted is refused here for this many steps after, whatever Twilio does.
 */
const REUSE_STEPS = 2 * FACTOR_CONFIG['config.skew'];

/** What is kept of a code Twilio accepted: enough to know it again, not a secret (it is used up). */
function codeMark(factorSid: string, code: string): string {
  return createHash('sha256').update(`${factorSid}:${code}`).digest('base64url');
}

/**
 * The codes accepted lately, as kept in the row: "<step>.<mark>" for each, space-separated,
 * only those that could still be good (accepted within REUSE_STEPS of `step`).
 */
function recentMarks(kept: string | null | undefined, step: number): Array<{ step: number; mark: string }> {
  return (kept ?? '')
    .split(' ')
    .map((entry) => /^(\d+)\.([A-Za-z0-9_-]+)$/.exec(entry))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ step: Number(match[1]), mark: match[2]! }))
    .filter((entry) => step - entry.step <= REUSE_STEPS);
}

type Outcome<T> = { ok: true } & T;
type Refusal = { ok: false; reason: TotpReason };

export class TwilioTotpBackend implements TotpBackend {
  readonly name = 'twilio';
  private readonly service;

  constructor(
    config: TwilioConfig,
    private readonly logger: Logger,
    private readonly options: TwilioTotpOptions = {},
  ) {
    this.service = verifyService(config, options.timed);
  }

  /** `code` is the code sent, if any: kept out of the log even if Twilio's message repeats it. */
  private logFailure(
    operation: string,
    subject: { entity?: string; factorSid?: string },
    error: unknown,
    code?: string,
  ) {
    const failure = failureOf(error);
    this.logger.warn(
      {
        provider: 'twilio',
        operation,
        ...subject,
        twilioStatus: failure.status,
        twilioCode: failure.code,
        network: failure.network,
        reason: withoutCode((error as Error)?.message, code),
      },
      'Twilio Verify TOTP request failed',
    );
    return failure;
  }

  private logUnexpected(operation: string, subject: { entity?: string; factorSid?: string }, status: unknown) {
    this.logger.warn(
      { provider: 'twilio', operation, ...subject, twilioResourceStatus: status },
      'Twilio Verify TOTP answered with an unexpected status',
    );
  }

  async start(person: {
    userId: string;
    accountName: string;
  }): Promise<Outcome<{ start: TotpEnrolmentStart }> | Refusal> {
    const entity = person.userId;
    let factor;
    try {
      factor = await this.service
        .entities(entity)
        .newFactors.create({ friendlyName: FRIENDLY_NAME, factorType: 'totp', ...FACTOR_CONFIG });
    } catch (error) {
      const failure = this.logFailure('create_factor', { entity }, error);
      // 20404 here is the service itself: a configuration problem, not a missing factor. A
      // factor made without our hearing of it is never verified, and Twilio ages it out.
      const reason = failure.code === 20404 ? 'unavailable' : reasonFor(failure);
      return { ok: false, reason: reason === 'unconfirmed' ? 'unavailable' : reason };
    }
    const subject = { entity, factorSid: factor.sid };
    const binding = factor.binding as { secret?: unknown; uri?: unknown } | null | undefined;
    const uri =
      typeof binding?.uri === 'string' ? shownUri(binding.uri, person.accountName, this.options.issuer) : undefined;
    const secret = typeof binding?.secret === 'string' ? binding.secret : undefined;
    if (factor.status !== 'unverified' || !secret || !uri || !uri.includes(`secret=${secret}`)) {
      this.logUnexpected('create_factor', subject, factor.status);
      await this.removeFactor(entity, factor.sid);
      return { ok: false, reason: 'unavailable' };
    }
    return { ok: true, start: { uri, secret, pending: { entity, factorSid: factor.sid } } };
  }

  private stepNow(): number {
    return Math.floor((this.options.now ?? Date.now)() / STEP_MS);
  }

  /** Whether `code` was accepted lately (see recentMarks). */
  private acceptedLately(stored: TotpStored, factorSid: string, code: string): boolean {
    const mark = codeMark(factorSid, code);
    return recentMarks(stored.lastCode, this.stepNow()).some((entry) => entry.mark === mark);
  }

  /** What the row keeps once Twilio accepted `code`: the step now, and the recent codes with this one. */
  private accepted(stored: TotpStored, factorSid: string, code: string): Pick<TotpStored, 'lastStep' | 'lastCode'> {
    const step = this.stepNow();
    const marks = [...recentMarks(stored.lastCode, step), { step, mark: codeMark(factorSid, code) }];
    return { lastStep: step, lastCode: marks.map((entry) => `${entry.step}.${entry.mark}`).join(' ') };
  }

  async finish(pending: Record<string, string>, code: string): Promise<Outcome<{ stored: TotpStored }> | Refusal> {
    const { entity, factorSid } = pending;
    if (!entity || !factorSid) return { ok: false, reason: 'not_found' };
    if (!/^\d{6}$/.test(code)) return { ok: false, reason: 'wrong_code' };
    const subject = { entity, factorSid };
    try {
      const factor = await this.service.entities(entity).factors(factorSid).update({ authPayload: code });
      // The code that verified the factor does not sign in next.
      if (factor.status === 'verified')
        return {
          ok: true,
          stored: { twilioEntity: entity, twilioFactorSid: factorSid, ...this.accepted({}, factorSid, code) },
        };
      // Since October 2021 Twilio answers a wrong first code with the factor still unverified.
      if (factor.status === 'unverified') return { ok: false, reason: 'wrong_code' };
      this.logUnexpected('verify_factor', subject, factor.status);
      return { ok: false, reason: 'unavailable' };
    } catch (error) {
      return { ok: false, reason: reasonFor(this.logFailure('verify_factor', subject, error, code)) };
    }
  }

  async verify(stored: TotpStored, code: string): Promise<Outcome<{ stored: TotpStored }> | Refusal> {
    const entity = stored.twilioEntity;
    const factorSid = stored.twilioFactorSid;
    if (!entity || !factorSid) return { ok: false, reason: 'not_found' };
    if (!/^\d{6}$/.test(code)) return { ok: false, reason: 'wrong_code' };
    // Refused before Twilio is asked: a verifier that takes a code twice cannot let it in twice.
    if (this.acceptedLately(stored, factorSid, code)) return { ok: false, reason: 'replayed' };
    const subject = { entity, factorSid };
    try {
      const challenge = await this.service.entities(entity).challenges.create({ factorSid, authPayload: code });
      if (challenge.status === 'approved')
        return { ok: true, stored: { ...stored, ...this.accepted(stored, factorSid, code) } };
      // A wrong code (or, at a verifier that refuses reuse, a code already used) leaves the
      // challenge pending; Twilio cannot tell us which, so both count as a wrong code.
      if (challenge.status === 'pending' || challenge.status === 'denied') return { ok: false, reason: 'wrong_code' };
      this.logUnexpected('create_challenge', subject, challenge.status);
      return { ok: false, reason: 'unavailable' };
    } catch (error) {
      return { ok: false, reason: reasonFor(this.logFailure('create_challenge', subject, error, code)) };
    }
  }

  async remove(stored: TotpStored): Promise<void> {
    if (stored.twilioEntity && stored.twilioFactorSid)
      await this.removeFactor(stored.twilioEntity, stored.twilioFactorSid);
  }

  /**
   * Deletes the factor at Twilio. A factor already gone (20404) is fine; any other failure is
   * logged and left: the factor is removed on our side regardless, and a factor at Twilio
   * without our record cannot sign anyone in (only this server creates its challenges).
   */
  private async removeFactor(entity: string, factorSid: string): Promise<void> {
    try {
      await this.service.entities(entity).factors(factorSid).remove();
    } catch (error) {
      if (failureOf(error).code === 20404) return;
      this.logFailure('delete_factor', { entity, factorSid }, error);
    }
  }
}

function withoutCode(message: string | undefined, code: string | undefined): string | undefined {
  return message && code ? message.split(code).join('[code]') : message;
}

/**
 * Twilio's URI with our account name as its label (Twilio builds it from the factor's friendly
 * name, which we keep free of personal data) and our issuer if given. Secret and parameters stay Twilio's.
 */
function shownUri(twilioUri: string, accountName: string, issuer: string | undefined): string | undefined {
  try {
    const totp = URI.parse(twilioUri);
    if (!('period' in totp)) return undefined;
    totp.label = accountName;
    if (issuer) totp.issuer = issuer;
    return totp.toString();
  } catch {
    return undefined;
  }
}

/** Twilio's documented errors for factors and challenges, as reasons; anything else fails closed. */
function reasonFor({ status, code, network }: TwilioFailure): TotpReason {
  // No answer: nothing was judged only if the request never reached Twilio.
  if (status === undefined) return neverReachedTwilio(network) ? 'unavailable' : 'unconfirmed';
  // Twilio failed on its side: it may have judged (and used up) the code first.
  if (status >= 500) return 'unconfirmed';
  switch (code) {
    case 20404: // the factor (or its entity) does not exist: deleted at Twilio, or aged out unverified
    case 60318: // the factor is unverified: it cannot be challenged
      return 'not_found';
    case 20429: // too many requests for the account
    case 60310: // five wrong first codes: the factor is locked, set up again
    case 60308: // five wrong codes for one challenge
      return 'rate_limited';
    case 60311: // a wrong first code, as Twilio answered before October 2021
    case 60324: // a wrong challenge code, likewise
      return 'wrong_code';
    default:
      // 20003 (credentials), 60200 (invalid parameter), 60317 (factor exists), 60323 (challenge
      // expired), 60362 (factor SID), and anything new: no one gets in.
      return status === 429 ? 'rate_limited' : 'unavailable';
  }
}
