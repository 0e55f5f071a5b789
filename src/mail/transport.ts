// Where a mail finally goes: an SMTP relay (nodemailer), or, on a developer's machine without
// one, the log and /dev/outbox. Both take a finished message; the outbox (outbox.ts) decides when.
import nodemailer from 'nodemailer';
import type { Logger } from '../core/logger.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  readonly name: 'smtp' | 'console';
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** How long the relay may take to connect, greet and answer, before a send counts as failed (and is tried again later). */
const SMTP_TIMEOUT_MS = 10_000;
const OUTBOX_SIZE = 50;

/** An address as the logs may show it: the first letter and the domain. */
export function addressHint(address: string): string {
  const at = address.lastIndexOf('@');
  return at > 0 ? `${address[0]}…${address.slice(at)}` : '…';
}

export function smtpTransport(url: string, from: string): MailTransport {
  const transporter = nodemailer.createTransport(url, {
    from,
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
  });
  return {
    name: 'smtp',
    async send(message) {
      await transporter.sendMail(message);
    },
    close: () => transporter.close(),
  };
}

export interface SentMail extends MailMessage {
  at: Date;
}

/** Development without SMTP_URL: mail goes to the log and to /dev/outbox (refused in production). */
export class ConsoleTransport implements MailTransport {
  readonly name = 'console';
  private readonly sent: SentMail[] = [];

  constructor(private readonly logger: Logger) {}

  send(message: MailMessage): Promise<void> {
    this.sent.push({ ...message, at: new Date() });
    if (this.sent.length > OUTBOX_SIZE) this.sent.shift();
    // The whole point of this transport: the mail, links and all, in the developer's log.
    this.logger.info(
      { mail: 'console', to: message.to, subject: message.subject, text: message.text },
      'mail (console)',
    );
    return Promise.resolve();
  }

  /** The latest mails, newest first. */
  outbox(): readonly SentMail[] {
    return [...this.sent].reverse();
  }

  close(): void {}
}
