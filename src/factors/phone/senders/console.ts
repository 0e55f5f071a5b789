// Development provider: "sends" a code by writing it to the log and to /dev/outbox, with the
// same rules as Twilio Verify (10-minute codes, 5 checks, 5 sends). Refused in production.
// It keeps its codes in this process, which is fine for the single process it is made for.
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../../core/logger.js';
import { phoneHint } from '../numbers.js';
import { type Channel, type CheckResult, type StartResult, type CodeSender } from './sender.js';

const CODE_TTL_MS = 10 * 60_000;
const MAX_CHECKS = 5;
const MAX_SENDS = 5;
const OUTBOX_SIZE = 50;

export interface OutboxMessage {
  to: string;
  channel: Channel;
  code: string;
  at: Date;
}

interface PendingCode {
  sid: string;
  code: string;
  createdAt: number;
  checks: number;
  sends: number;
}

export class ConsoleSender implements CodeSender {
  readonly name = 'console';
  private readonly pending = new Map<string, PendingCode>();

  constructor(
    private readonly logger: Logger,
    private readonly sent: OutboxMessage[] = [],
  ) {}

  /** Another provider with codes of its own (as another Verify service would be), writing to the same outbox. */
  beside(): ConsoleSender {
    return new ConsoleSender(this.logger, this.sent);
  }

  /** The latest messages, newest first. */
  outbox(): readonly OutboxMessage[] {
    return [...this.sent].reverse();
  }

  private isLive(entry: PendingCode): boolean {
    return Date.now() - entry.createdAt <= CODE_TTL_MS;
  }

  start(to: string, channel: Channel): Promise<StartResult> {
    let entry = this.pending.get(to);
    // Like Twilio: a code killed by too many wrong checks, or expired, gives way to a new one.
    if (entry && (!this.isLive(entry) || entry.checks >= MAX_CHECKS)) entry = undefined;
    if (entry && entry.sends >= MAX_SENDS) {
      return Promise.resolve({ status: 'rate_limited', providerStatus: 'max_send_attempts', sid: entry.sid });
    }
    if (!entry) {
      const sid = `console-${randomBytes(8).toString('hex')}`;
      entry = {
        sid,
        code: String(randomInt(0, 1_000_000)).padStart(6, '0'),
        createdAt: Date.now(),
        checks: 0,
        sends: 0,
      };
      this.pending.set(to, entry);
    }
    entry.sends += 1;
    this.sent.push({ to, channel, code: entry.code, at: new Date() });
    if (this.sent.length > OUTBOX_SIZE) this.sent.shift();
    // The whole point of this provider: the code goes to the developer's log.
    this.logger.info(
      { provider: 'console', channel, to: phoneHint(to), code: entry.code },
      'verification code (console provider)',
    );
    return Promise.resolve({ status: 'pending', channel, providerStatus: 'pending', sid: entry.sid });
  }

  check(verificationSid: string, code: string): Promise<CheckResult> {
    // Only the verification named, as with Twilio: another one pending for the number is not it.
    const [to, entry] = [...this.pending].find(([, pending]) => pending.sid === verificationSid) ?? [];
    if (!to || !entry || !this.isLive(entry)) {
      if (to) this.pending.delete(to);
      return Promise.resolve({ status: 'expired', providerStatus: 'not_found' });
    }
    const sid = entry.sid;
    const tooMany = { status: 'too_many_attempts', providerStatus: 'max_attempts_reached', sid } as const;
    if (entry.checks >= MAX_CHECKS) return Promise.resolve(tooMany);
    const matches = code.length === entry.code.length && timingSafeEqual(Buffer.from(code), Buffer.from(entry.code));
    if (matches) {
      this.pending.delete(to);
      return Promise.resolve({ status: 'approved', providerStatus: 'approved', sid });
    }
    entry.checks += 1;
    if (entry.checks >= MAX_CHECKS) return Promise.resolve(tooMany);
    return Promise.resolve({ status: 'wrong_code', providerStatus: 'pending', sid });
  }
}
