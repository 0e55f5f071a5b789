import type { Config } from '../../config.js';
import type { Logger } from '../../core/logger.js';
import { ConsoleProvider } from './console.js';
import { TwilioProvider } from './twilio.js';
import type { VerificationProvider } from './provider.js';

export function createProvider(config: Config['twoFactor'], logger: Logger): VerificationProvider {
  if (config.provider === 'twilio' && config.twilio) return new TwilioProvider(config.twilio, logger);
  logger.warn('codes are written to the log and /dev/outbox (console provider); configure TWILIO_* to send real ones');
  return new ConsoleProvider(logger);
}
