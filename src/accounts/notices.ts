// Security notices by email: a change that matters to the account's safety (2FA off, a way to
// sign in added or removed, the password changed, a recovery code used, and, for those who ask,
// a sign-in from a browser new to the account) mails its owner. Driven by the audit trail:
// every such change is recorded there, in its own transaction, and the notice is queued in
// that same transaction, so a notice goes out if and only if the change landed.
import { describeBrowser, type AuditEntry } from '../audit/index.js';
import type { DatabaseClient } from '../core/db/client.js';
import type { Email } from '../mail/index.js';
import type { AccountsRepository } from './repository.js';
import type { SendMail } from './self-service.js';

/** How far back a browser counts as known to the account. */
const KNOWN_BROWSER_DAYS = 180;

/** A factor as a mail names it, from the audit event's detail. */
function factorName(detail: AuditEntry['detail']): string {
  if (detail?.kind === 'totp') return 'an authenticator app';
  if (detail?.kind === 'passkey') return 'a passkey';
  if (typeof detail?.phone === 'string') return `a phone (${detail.phone})`;
  return 'a phone';
}

/** The notice an event calls for, if any (the new-browser one is decided apart). */
function noticeOf(entry: AuditEntry): Email | undefined {
  if (entry.outcome !== 'ok' && entry.type !== 'notice_settings') return undefined;
  switch (entry.type) {
    case 'two_factor_enabled':
      return { kind: 'two_factor_on', factor: factorName(entry.detail) };
    case 'two_factor_disabled':
      return { kind: 'two_factor_off' };
    case 'factor_added':
      return { kind: 'factor_added', factor: factorName(entry.detail) };
    case 'factor_removed':
      return { kind: 'factor_removed', factor: factorName(entry.detail) };
    case 'phone_changed':
      return { kind: 'phone_changed' };
    case 'recovery_codes_made':
      // The first set comes with turning 2FA on, which has its own notice.
      return entry.detail?.replaced ? { kind: 'recovery_codes_made' } : undefined;
    case 'recovery_code_used':
      return { kind: 'recovery_code_used', left: Number(entry.detail?.left ?? 0) };
    case 'password_changed':
      return { kind: 'password_changed', how: 'changed' };
    case 'password_reset':
      return { kind: 'password_changed', how: 'reset' };
    case 'notice_settings':
      return entry.outcome === 'off' ? { kind: 'new_browser_notices_off' } : undefined;
    default:
      return undefined;
  }
}

export function securityNotices(deps: {
  users: AccountsRepository;
  sendMail: SendMail;
  /** How many sign-ins of the account since `since` came from this browser (its id's hash), the one just recorded included. */
  signInsFromBrowser: (userId: string, browser: string, since: Date, db: DatabaseClient) => Promise<number>;
}) {
  const { users, sendMail, signInsFromBrowser } = deps;

  /** Whether no earlier sign-in of the account (in KNOWN_BROWSER_DAYS) came from this browser. */
  async function isNewBrowser(db: DatabaseClient, userId: string, browser: unknown): Promise<boolean> {
    if (typeof browser !== 'string') return true;
    const since = new Date(Date.now() - KNOWN_BROWSER_DAYS * 86_400_000);
    return (await signInsFromBrowser(userId, browser, since, db)) <= 1;
  }

  /** Called by the audit trail for each event written, inside the event's transaction `db`. */
  return async function notify(entry: AuditEntry, db: DatabaseClient): Promise<void> {
    if (!entry.userId) return;
    const notice = noticeOf(entry);
    // Sign-ins from the JSON API come from programs, not browsers.
    const browserSignIn = entry.type === 'sign_in' && entry.outcome === 'ok' && entry.detail?.through !== 'api';
    if (!notice && !browserSignIn) return;
    const user = await users.findById(entry.userId, db);
    if (!user) return;
    if (notice) return sendMail(user.email, notice, db);
    if (!user.notifyNewBrowser || !(await isNewBrowser(db, user.id, entry.detail?.browser))) return;
    const { userAgent, ip } = entry.context;
    await sendMail(
      user.email,
      { kind: 'new_browser', browser: describeBrowser(userAgent), ip: ip ?? 'unknown', at: new Date() },
      db,
    );
  };
}
