// Every mail the app sends, as data: the services say which (a typed kind with its facts), and
// the templates in views/emails word it, once as text and once as HTML, in one layout.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import type { MailMessage } from './transport.js';

export type Email =
  /** A link to choose a new password, good once for `minutes`. */
  | { kind: 'password_reset'; token: string; minutes: number }
  /** A link confirming that the person receives mail at this address. */
  | { kind: 'verify_email'; token: string; minutes: number }
  /** To the new address of a change of email: the link that makes the change. */
  | { kind: 'change_email'; token: string; minutes: number }
  /** To the old address of a change of email, when it is asked for. */
  | { kind: 'email_change_asked'; newAddressHint: string }
  /** The change of email was made; to the old address. */
  | { kind: 'email_changed'; newAddressHint: string }
  | { kind: 'password_changed'; how: 'changed' | 'reset' }
  | { kind: 'two_factor_on'; factor: string }
  | { kind: 'two_factor_off' }
  | { kind: 'factor_added'; factor: string }
  | { kind: 'factor_removed'; factor: string }
  | { kind: 'phone_changed' }
  | { kind: 'recovery_codes_made' }
  | { kind: 'recovery_code_used'; left: number }
  | { kind: 'new_browser'; browser: string; ip: string; at: Date }
  /** Mail about sign-ins from new browsers was turned off (a stolen session would want that). */
  | { kind: 'new_browser_notices_off' };

export type EmailKind = Email['kind'];

/** Where each link of a mail leads, from PUBLIC_URL: a token travels in the path, once. */
const LINKS = {
  password_reset: '/reset-password/',
  verify_email: '/verify-email/',
  change_email: '/confirm-email/',
} as const;

const SUBJECTS: Record<EmailKind, string> = {
  password_reset: 'Reset your password',
  verify_email: 'Confirm your email address',
  change_email: 'Confirm your new email address',
  email_change_asked: 'Your email address is being changed',
  email_changed: 'Your email address was changed',
  password_changed: 'Your password was changed',
  two_factor_on: 'Two-factor authentication is on',
  two_factor_off: 'Two-factor authentication is off',
  factor_added: 'A way to sign in was added',
  factor_removed: 'A way to sign in was removed',
  phone_changed: 'Your two-factor phone number was changed',
  recovery_codes_made: 'New recovery codes were made',
  recovery_code_used: 'A recovery code was used',
  new_browser: 'New sign-in to your account',
  new_browser_notices_off: 'Mail about new sign-ins was turned off',
};

const viewsDir = fileURLToPath(new URL('../../views/emails', import.meta.url));

type Format = 'text' | 'html';

/** What a template writes with: the same calls give a text mail and an HTML one. */
function writers(format: Format) {
  const escape = (text: string) => (format === 'html' ? ejs.escapeXML(text) : text);
  return {
    /** "30 minutes", "24 hours". */
    duration: (minutes: number) =>
      minutes % 60 === 0 ? `${minutes / 60} hour${minutes === 60 ? '' : 's'}` : `${minutes} minutes`,
    paragraph: (text: string) => (format === 'html' ? `<p>${escape(text)}</p>\n` : `${text}\n\n`),
    button: (label: string, url: string) =>
      format === 'html'
        ? `<p><a href="${escape(url)}" style="display:inline-block;padding:10px 16px;background:#1d4ed8;color:#fff;text-decoration:none;border-radius:4px">${escape(label)}</a></p>\n<p style="font-size:13px;color:#555">Or paste this address into your browser: ${escape(url)}</p>\n`
        : `${label}:\n${url}\n\n`,
  };
}

export interface MailSettings {
  /** Links are built from this, never from a request's Host header. */
  publicUrl: string;
  /** Shown at the foot of every mail. */
  appName: string;
}

/** Renders `email` for `to`: subject, text and HTML from views/emails/<kind>.ejs in the layout. */
export function renderEmail(settings: MailSettings, to: string, email: Email): MailMessage {
  const base = settings.publicUrl.replace(/\/$/, '');
  const url = 'token' in email ? `${base}${LINKS[email.kind]}${email.token}` : undefined;
  const data = { ...email, url, to, accountUrl: `${base}/account`, appName: settings.appName };
  const render = (format: Format) => {
    const body = compiled(`${email.kind.replaceAll('_', '-')}.ejs`)({ ...data, ...writers(format) });
    return compiled(`layout.${format}.ejs`)({ ...data, body });
  };
  return { to, subject: SUBJECTS[email.kind], text: render('text'), html: render('html') };
}

// Compiled once per process, like the pages.
const templates = new Map<string, ejs.TemplateFunction>();
function compiled(name: string): ejs.TemplateFunction {
  let render = templates.get(name);
  if (!render) {
    const file = path.join(viewsDir, name);
    render = ejs.compile(readFileSync(file, 'utf8'), { filename: file });
    templates.set(name, render);
  }
  return render;
}
