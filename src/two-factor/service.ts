// The rules of phone two-factor authentication: delivering codes (SMS, falling back to a
// call), the resend cooldown, checking codes, and turning 2FA on and off. Knows nothing of HTTP;
// the state it works on (who is at the code step, when codes went out) is passed in and out.
import type { AccountsService } from '../accounts/service.js';
import { maskPhone } from './phone.js';
import { MESSAGES, type Channel, type CheckOutcome, type VerificationProvider } from './providers/provider.js';
import type { TwoFactorRepository } from './repository.js';

/** When codes last went out on each channel, for the resend cooldown. */
export type SentAt = Partial<Record<Channel, number>>;

export type Delivery =
  | { ok: true; channel: Channel; notice: string }
  | { ok: false; status: 'invalid_number' | 'rate_limited' | 'unavailable'; message: string };

export type CodeCheck = CheckOutcome | { status: 'malformed'; message: string };

const CODE_PATTERN = /^\d{4,10}$/;

/** People paste codes with spaces or dashes ("123 456", "123-456"); those are not part of it. */
export function normaliseCode(raw: string): string {
  return raw.normalize('NFKC').replace(/[\s\-–—.]/g, '');
}

export function twoFactorService(deps: {
  provider: VerificationProvider;
  repository: TwoFactorRepository;
  accounts: AccountsService;
  resendCooldownMs: number;
  pendingLifetimeMs: number;
  now?: () => number;
}) {
  const { provider, repository, accounts, resendCooldownMs, pendingLifetimeMs } = deps;
  const now = deps.now ?? Date.now;

  function noticeFor(phone: string, channel: Channel, fellBack: boolean): string {
    const masked = maskPhone(phone);
    if (fellBack) return `This number cannot receive text messages right now, so we are calling ${masked} to read you the code.`;
    return channel === 'sms' ? `We sent a 6-digit code by text message to ${masked}.` : `We are calling ${masked} now to read you a 6-digit code.`;
  }

  return {
    /**
     * Sends a code on `channel`. An SMS that cannot be delivered (a landline, a failing route)
     * becomes a voice call, and the notice says so.
     */
    async deliver(phone: string, channel: Channel): Promise<Delivery> {
      let outcome = await provider.start(phone, channel);
      let fellBack = false;
      if (outcome.status === 'channel_failed' && channel === 'sms') {
        outcome = await provider.start(phone, 'call');
        fellBack = true;
      }
      switch (outcome.status) {
        case 'pending':
          return { ok: true, channel: outcome.channel, notice: noticeFor(phone, outcome.channel, fellBack) };
        case 'channel_failed':
          return { ok: false, status: 'unavailable', message: MESSAGES.unavailable };
        default:
          return { ok: false, status: outcome.status, message: outcome.message };
      }
    },

    /** Milliseconds until another code may be sent on `channel`; 0 when it may be now. */
    cooldownRemaining(sentAt: SentAt, channel: Channel): number {
      const last = sentAt[channel];
      return last === undefined ? 0 : Math.max(0, last + resendCooldownMs - now());
    },

    /** True once the code step has waited longer than a sign-in may. */
    pendingExpired(startedAt: number): boolean {
      return now() - startedAt > pendingLifetimeMs;
    },

    now,

    /** Checks a code as typed. A code that is not 4 to 10 digits never reaches the provider. */
    async check(phone: string, raw: string): Promise<CodeCheck> {
      const code = normaliseCode(raw);
      if (!code) return { status: 'malformed', message: 'Enter the 6-digit code from the message.' };
      if (!CODE_PATTERN.test(code)) return { status: 'malformed', message: 'The code is 6 digits, like 123456.' };
      return provider.check(phone, code);
    },

    enable(userId: string, phone: string): Promise<void> {
      return repository.enable(userId, phone);
    },

    async disable(userId: string, password: string): Promise<boolean> {
      if (!(await accounts.passwordMatches(userId, password))) return false;
      await repository.disable(userId);
      return true;
    },

    passwordMatches(userId: string, password: string): Promise<boolean> {
      return accounts.passwordMatches(userId, password);
    },
  };
}

export type TwoFactorService = ReturnType<typeof twoFactorService>;
