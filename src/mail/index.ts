// Mail, as the rest of the app uses it: `send(to, email, tx)` queues a typed mail in the
// transaction of the change it tells of; the outbox's worker renders nothing and sends it.
import { createHash, hkdfSync } from 'node:crypto';
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';
import type { Logger } from '../core/logger.js';
import { secretBox } from '../core/secret-box.js';
import { renderEmail, type Email, type MailSettings } from './emails.js';
import { mailOutbox } from './outbox.js';
import { ConsoleTransport, smtpTransport, type MailTransport } from './transport.js';

export { renderEmail, type Email, type EmailKind, type MailSettings } from './emails.js';
export { addressHint, ConsoleTransport, type MailMessage, type SentMail } from './transport.js';
export { retryDelaySeconds } from './outbox.js';

export interface MailConfig extends MailSettings {
  /** Undefined: the console transport (development only). */
  smtpUrl: string | undefined;
  from: string;
  /** The queued mail is sealed with keys derived from these (the session secrets: the first seals). */
  secrets: string[];
}

/**
 * A key of the outbox's box, derived from a secret (never the secret itself), named by a hash of
 * itself: a rotation that puts a new secret first still opens what the old one sealed.
 */
function derivedKey(secret: string) {
  const key = Buffer.from(hkdfSync('sha256', secret, '', 'mail outbox key', 32));
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 12), key };
}

export function openMail(config: MailConfig, prisma: PrismaClient, logger: Logger) {
  const transport: MailTransport = config.smtpUrl
    ? smtpTransport(config.smtpUrl, config.from)
    : new ConsoleTransport(logger);
  if (transport instanceof ConsoleTransport)
    logger.warn('SMTP_URL is not set: mail is written to the log and /dev/outbox instead of being sent');
  const box = secretBox(config.secrets.map(derivedKey));
  const outbox = mailOutbox({ prisma, box, transport, logger });
  return {
    /** Queues `email` to `to` inside `db`, the transaction of the change it tells of. */
    send(to: string, email: Email, db: DatabaseClient): Promise<void> {
      return outbox.enqueue(renderEmail(config, to, email), db);
    },
    /** The development outbox, when mail goes nowhere else. */
    devOutbox: transport instanceof ConsoleTransport ? transport : undefined,
    start: () => outbox.start(),
    async close(): Promise<void> {
      await outbox.stop();
      transport.close();
    },
    deliverDue: () => outbox.deliverDue(),
  };
}

export type Mail = ReturnType<typeof openMail>;
