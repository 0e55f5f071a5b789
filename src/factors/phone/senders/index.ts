import type { Config } from '../../../config.js';
import type { Logger } from '../../../core/logger.js';
import { ConsoleSender } from './console.js';
import { TwilioVerifySender } from './twilio.js';
import type { CodeSender } from './sender.js';

export function createCodeSender(config: Config['twoFactor'], logger: Logger): CodeSender {
  if (config.provider === 'twilio' && config.twilio) return new TwilioVerifySender(config.twilio, logger);
  logger.warn('codes are written to the log and /dev/outbox (console provider); configure TWILIO_* to send real ones');
  return new ConsoleSender(logger);
}
