// A real SMTP server on loopback (smtp-server), for the app to send its mail to over SMTP as it
// would to a relay. It keeps every mail it receives, parsed, so a test reads its links as a
// person would click them. It can be told to refuse mail, like a relay that is down.
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { eventually } from './eventually.js';

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailCatcher {
  /** SMTP_URL for the app. */
  url: string;
  received: ReceivedMail[];
  /** While true, every mail is refused with a temporary failure (451). */
  refusing: boolean;
  /** Waits for a mail to `to` whose subject contains `subject` (the newest one), and returns it. */
  waitFor(to: string, subject: string, timeoutMs?: number): Promise<ReceivedMail>;
  /** The mails to `to`. */
  to(to: string): ReceivedMail[];
  close(): Promise<void>;
}

export async function startMailCatcher(): Promise<MailCatcher> {
  const catcher = { received: [] as ReceivedMail[], refusing: false };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      if (catcher.refusing) {
        stream.resume();
        stream.on('end', () => callback(Object.assign(new Error('try again later'), { responseCode: 451 })));
        return;
      }
      simpleParser(stream).then(
        (parsed) => {
          for (const recipient of session.envelope.rcptTo)
            catcher.received.push({
              to: recipient.address,
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
            });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  const to = (address: string) => catcher.received.filter((mail) => mail.to === address);
  return {
    url: `smtp://127.0.0.1:${port}`,
    get received() {
      return catcher.received;
    },
    get refusing() {
      return catcher.refusing;
    },
    set refusing(value: boolean) {
      catcher.refusing = value;
    },
    to,
    async waitFor(address, subject, timeoutMs = 10_000) {
      const find = () =>
        to(address)
          .filter((mail) => mail.subject.includes(subject))
          .at(-1);
      await eventually(
        () => Promise.resolve(find() !== undefined),
        `a mail "${subject}" reaches ${address}`,
        timeoutMs,
      );
      return find()!;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The path of the first link in a mail's text that starts with `prefix` (like /reset-password/). */
export function linkIn(mail: ReceivedMail, prefix: string): string {
  const match = new RegExp(`https?://[^\\s/]+(${prefix}[A-Za-z0-9_-]+)`).exec(mail.text);
  if (!match?.[1]) throw new Error(`no ${prefix} link in the mail "${mail.subject}"`);
  return match[1];
}
