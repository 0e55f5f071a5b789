import type { Config } from '../../../config.js';
import type { Logger } from '../../../core/logger.js';
import { ConsoleSender } from './console.js';
import { TwilioVerifySender } from './twilio.js';
import type { TwilioTimer } from '../../twilio-client.js';
import type { CodeSender } from './sender.js';

/**
 * The code senders: the pages' (sign-in and enrolment), and the open phone-verification API's,
 * which keeps verifications of its own (a Verify service of its own on Twilio), so a stranger
 * verifying a number never sends, checks or wears out the code its owner signs in with.
 */
export function createCodeSenders(
  config: Config['twoFactor'],
  logger: Logger,
  timed?: TwilioTimer,
): { pages: CodeSender; api: CodeSender } {
  if (config.provider === 'twilio' && config.twilio) {
    const pages = new TwilioVerifySender(config.twilio, logger, timed);
    if (config.twilio.apiVerifyServiceSid === config.twilio.verifyServiceSid) {
      logger.warn(
        "TWILIO_API_VERIFY_SERVICE_SID is not set: the open phone verification API shares the sign-in codes' Verify service (refused in production)",
      );
      return { pages, api: pages };
    }
    const api = new TwilioVerifySender(
      { ...config.twilio, verifyServiceSid: config.twilio.apiVerifyServiceSid },
      logger,
      timed,
    );
    return { pages, api };
  }
  logger.warn('codes are written to the log and /dev/outbox (console provider); configure TWILIO_* to send real ones');
  const pages = new ConsoleSender(logger);
  return { pages, api: pages.beside() };
}
