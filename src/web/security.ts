// Cross-cutting protections: security headers, CSRF tokens, caching of private pages and
// the check that keeps `next` redirects on this site.
import { createHmac } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { doubleCsrf } from 'csrf-csrf';
import { sessionIfAny } from '../core/sessions.js';
import { holdsSignIn } from './session.js';

/**
 * Helmet's headers, worked out once. This policy has no nonce, so every answer gets the same
 * set: run per request, helmet's twelve middleware functions each set one, and the policy was
 * joined from its directives every time (bench/findings.md). Helmet is run once against a
 * response that only records what it sets; anything else it might do (a nonce needs `res.locals`,
 * a header removed needs `removeHeader`) fails here, at start-up.
 */
function headersSetBy(middleware: RequestHandler): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const recorder = { setHeader: (name: string, value: unknown) => headers.push([name, String(value)]) };
  let passed: { error?: unknown } | undefined;
  middleware({} as Request, recorder as unknown as Response, (error?: unknown) => (passed = { error }));
  if (!passed || passed.error)
    throw new Error('the security headers could not be worked out once', { cause: passed?.error });
  return headers;
}

export function securityHeaders(options: { isProduction: boolean }): RequestHandler {
  const headers = headersSetBy(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          upgradeInsecureRequests: options.isProduction ? [] : null,
        },
      },
      // HSTS only makes sense where the site is served over HTTPS.
      strictTransportSecurity: options.isProduction,
      referrerPolicy: { policy: 'same-origin' },
      // Express sends no X-Powered-By here (the app disables it): nothing to remove.
      xPoweredBy: false,
    }),
  );
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/** Where the site's own cookies (form tokens, messages) live, and what signs them. */
export interface CookieSettings {
  /** The session secrets, newest first: the first signs, every one is accepted. */
  secrets: string[];
  /** HTTPS only, under the __Host- prefix (production). */
  secure: boolean;
}

/** A cookie name under the __Host- prefix where cookies are Secure: no sibling subdomain can plant it. */
export const cookieName = (name: string, secure: boolean) => (secure ? `__Host-${name}` : name);

/**
 * CSRF defence that keeps nothing on the server: a signed double-submit token (csrf-csrf). The
 * token sits in an HttpOnly cookie and in each form; a post is accepted when the two match and
 * the HMAC binds the token to the session holding the browser's sign-in (none for a visitor).
 * So loading a form writes no session, and a token taken before sign-in is worthless after it
 * (the session changes). Tokens are signed with a key derived from the session secrets, so
 * rotating those rotates these.
 */
export function csrfProtection(settings: CookieSettings): RequestHandler {
  const keys = settings.secrets.map((secret) => createHmac('sha256', secret).update('csrf-token').digest('hex'));
  const { doubleCsrfProtection, generateCsrfToken } = doubleCsrf({
    getSecret: () => keys,
    // Bound to a session only while it holds a sign-in: that is the one session a browser
    // keeps (a visitor's is never stored, so a token for it binds to none).
    getSessionIdentifier: (req) => (holdsSignIn(sessionIfAny(req)) ? req.sessionID : ''),
    cookieName: cookieName('tfa.csrf', settings.secure),
    cookieOptions: { sameSite: 'lax', secure: settings.secure, httpOnly: true, path: '/' },
    getCsrfTokenFromRequest: (req) => {
      const fromBody = (req.body as Record<string, unknown> | undefined)?._csrf;
      if (typeof fromBody === 'string') return fromBody;
      const fromHeader = req.headers['x-csrf-token'];
      return typeof fromHeader === 'string' ? fromHeader : undefined;
    },
  });
  return (req, res, next) => {
    // One token per response, however many forms ask: each call would otherwise set a new cookie.
    let token: string | undefined;
    res.locals.csrfToken = () => (token ??= generateCsrfToken(req, res));
    doubleCsrfProtection(req, res, next);
  };
}

/** Pages that show account data must not be kept by the browser or any cache on the way. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  res.set('Pragma', 'no-cache');
  next();
};

const LOCAL_BASE = 'http://local.invalid';
const MAX_NEXT_LENGTH = 2048;

/**
 * A path a browser cannot read as another host: one leading slash not followed by another (to
 * browsers a backslash is a slash too), and no backslash or control character anywhere.
 */
function isPlainLocalPath(path: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters in a URL are refused
  return path.startsWith('/') && !/^\/[/\\]/.test(path) && !/[\\\u0000-\u001f\u007f]/.test(path);
}

/** The path with its escapes undone, as a proxy or a careless router on the way might read it. */
function decodedPath(pathname: string): string | undefined {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
}

/** A decoded path that stays a plain local path once dot segments are resolved too (`/.//x` is `//x`). */
function isLocalOnceNormalised(path: string): boolean {
  if (!isPlainLocalPath(path)) return false;
  try {
    const url = new URL(path, LOCAL_BASE);
    return url.origin === LOCAL_BASE && isPlainLocalPath(url.pathname);
  } catch {
    return false;
  }
}

/**
 * Returns `candidate` when it is a path on this site, else `fallback`. Judged on the value that
 * is actually sent: normalising `/.//evil.example` or `/a/..//evil.example` yields
 * `//evil.example`, another host, so the check runs on the result as well as on the input, and
 * on the decoded result normalised again (`/.%2F/evil.example`).
 */
export function safeLocalPath(candidate: unknown, fallback = '/account'): string {
  if (typeof candidate !== 'string' || candidate.length > MAX_NEXT_LENGTH || !isPlainLocalPath(candidate))
    return fallback;
  let url: URL;
  try {
    url = new URL(candidate, LOCAL_BASE);
  } catch {
    return fallback;
  }
  const sent = `${url.pathname}${url.search}${url.hash}`;
  const decoded = decodedPath(url.pathname);
  if (url.origin !== LOCAL_BASE || !isPlainLocalPath(sent) || decoded === undefined || !isLocalOnceNormalised(decoded))
    return fallback;
  return sent;
}
