// Cross-cutting protections: security headers, CSRF tokens, caching of private pages and
// the check that keeps `next` redirects on this site.
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import { csrfSync } from 'csrf-sync';

export function securityHeaders(options: { isProduction: boolean }): RequestHandler {
  return helmet({
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
  });
}

const csrf = csrfSync({
  getTokenFromRequest: (req) => {
    const fromBody = (req.body as Record<string, unknown> | undefined)?._csrf;
    if (typeof fromBody === 'string') return fromBody;
    const fromHeader = req.headers['x-csrf-token'];
    return typeof fromHeader === 'string' ? fromHeader : undefined;
  },
});

/** Refuses state-changing requests without the session's synchronizer token (403). */
export const csrfProtection: RequestHandler = csrf.csrfSynchronisedProtection;

/** The token for the forms of this response; made only when a form asks for it. */
export function csrfTokenFor(req: Parameters<RequestHandler>[0]): string {
  return csrf.generateToken(req);
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
