// Twilio Verify through the official SDK. Every Twilio answer, error and time-out is turned
// into a typed outcome; anything unexpected fails closed: no one gets in, and a start whose
// fate is unknown counts as "may have sent" (unconfirmed), never as "nothing sent".
import type { TwilioConfig } from '../../../config.js';
import type { Logger } from '../../../core/logger.js';
import {
  failureOf,
  neverReachedTwilio,
  verifyService,
  type TwilioFailure,
  type TwilioTimer,
} from '../../twilio-client.js';
import { phoneHint } from '../numbers.js';
import {
  type Channel,
  type CheckOutcome,
  type CheckResult,
  type StartOutcome,
  type StartResult,
  type CodeSender,
} from './sender.js';

export class TwilioVerifySender implements CodeSender {
  readonly name = 'twilio';
  private readonly service;

  constructor(
    config: TwilioConfig,
    private readonly logger: Logger,
    timed?: TwilioTimer,
  ) {
    this.service = verifyService(config, timed);
  }

  /** `subject` says what the request was about: a hinted number or a verification SID. */
  private logFailure(
    operation: string,
    subject: { to: string } | { verificationSid: string },
    error: unknown,
  ): TwilioFailure {
    const failure = failureOf(error);
    this.logger.warn(
      {
        provider: 'twilio',
        operation,
        ...subject,
        twilioStatus: failure.status,
        twilioCode: failure.code,
        network: failure.network,
        reason: (error as Error)?.message,
      },
      'Twilio Verify request failed',
    );
    return failure;
  }

  async start(to: string, channel: Channel): Promise<StartResult> {
    try {
      const verification = await this.service.verifications.create({ to, channel });
      const details = { providerStatus: verification.status, sid: verification.sid };
      if (verification.status === 'pending') return { status: 'pending', channel, ...details };
      // Twilio took the request but did not say the code is pending: it may have gone out.
      return { status: 'unconfirmed', channel, ...details };
    } catch (error) {
      const failure = this.logFailure('start', { to: phoneHint(to) }, error);
      return { ...mapStartFailure(channel, failure), providerStatus: 'error', errorCode: failure.code };
    }
  }

  async check(verificationSid: string, code: string): Promise<CheckResult> {
    try {
      // By SID, not by number: a check by `To` would approve any verification pending for the
      // number, such as one the admin test bench or another sign-in started.
      const result = await this.service.verificationChecks.create({ verificationSid, code });
      return { ...mapCheckStatus(result.status), providerStatus: result.status, sid: result.sid };
    } catch (error) {
      const failure = this.logFailure('check', { verificationSid }, error);
      return { ...mapCheckFailure(failure), providerStatus: 'error', errorCode: failure.code };
    }
  }
}

function mapStartFailure(channel: Channel, { status, code, network }: TwilioFailure): StartOutcome {
  // No answer from Twilio: nothing went out only if the request never reached it.
  if (status === undefined) {
    return neverReachedTwilio(network) ? { status: 'unavailable' } : { status: 'unconfirmed', channel };
  }
  if (code === 60205) return { status: 'channel_failed', channel, maybeSent: false };
  if (code === 60200 || code === 21211 || code === 21614) return { status: 'invalid_number' };
  // Refusals that waiting will not mend (or not within minutes): each says what can be done.
  if (code === 60410) return { status: 'number_blocked' };
  if (code === 60605) return { status: 'country_not_allowed' };
  if (code === 60223) return { status: 'channel_disabled', channel };
  if (code === 21408) return { status: 'region_not_enabled', channel };
  // 60212: too many verifications started at once for this number.
  if (code === 60203 || code === 60212 || code === 20429 || status === 429) return { status: 'rate_limited' };
  // A channel's delivery failing (5xx) may be mended by the other channel; the caller decides.
  // Twilio failed after taking the request, so this code may still go out.
  if (status >= 500) return { status: 'channel_failed', channel, maybeSent: true };
  // 20003 (credentials), 20404 (unknown service) and the other refusals: Twilio sent nothing.
  return { status: 'unavailable' };
}

function mapCheckStatus(status: string): CheckOutcome {
  switch (status) {
    case 'approved':
      return { status: 'approved' };
    case 'pending':
      return { status: 'wrong_code' };
    case 'max_attempts_reached':
      return { status: 'too_many_attempts' };
    case 'expired':
    case 'canceled':
      return { status: 'expired' };
    default:
      return { status: 'unavailable' };
  }
}

function mapCheckFailure({ status, code }: TwilioFailure): CheckOutcome {
  if (code === 60202) return { status: 'too_many_attempts' };
  // Twilio answers 20404 for a verification that expired, was approved or never existed.
  if (code === 20404) return { status: 'expired' };
  // Twilio judged no code: the request itself was refused, so this is no wrong guess.
  if (code === 60200) return { status: 'invalid_request' };
  if (code === 20429 || status === 429) return { status: 'rate_limited' };
  return { status: 'unavailable' };
}
