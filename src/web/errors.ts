// Error pages. Whatever went wrong, a person sees a calm page with the right status code;
// details go to the log, never to the page outside development.
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { DependencyUnavailableError, HttpError, isDependencyFailure, RateLimitedError } from '../core/errors.js';
import { tooManyAttempts } from './messages.js';

const TOO_MANY_TITLE = 'Too many attempts';

/** The "too many attempts" page, for a refusal a service returned rather than threw. */
export function renderTooMany(res: Response, retryAfterSeconds: number, message: string): void {
  res.set('Retry-After', String(retryAfterSeconds));
  res
    .status(429)
    .render('errors/error', { title: TOO_MANY_TITLE, page: { status: 429, title: TOO_MANY_TITLE, message } });
}

interface ErrorPage {
  status: number;
  title: string;
  message: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * What a failed request may have left behind, said honestly: "nothing was changed" only where
 * that is known, and a request meant to change something may have done part of it.
 */
function afterFailure(error: unknown, req: Request, retry: string): string {
  if (error instanceof DependencyUnavailableError && error.nothingChanged)
    return `Nothing was changed. Please try again${retry}.`;
  if (SAFE_METHODS.has(req.method)) return `Please try again${retry}.`;
  return `Part of what you asked may already be done, so check before trying again${retry}.`;
}

function describe(error: unknown, req: Request): ErrorPage {
  if (error instanceof RateLimitedError) {
    return { status: 429, title: TOO_MANY_TITLE, message: tooManyAttempts(error.retryAfterSeconds) };
  }
  if (error instanceof HttpError) {
    return { status: error.status, title: error.title, message: error.message };
  }
  const status = (error as { status?: unknown; statusCode?: unknown }).status;
  const type = (error as { type?: unknown }).type;
  const code = (error as { code?: unknown }).code;
  if (code === 'EBADCSRFTOKEN') {
    return {
      status: 403,
      title: 'This form has expired',
      message: 'The form was open too long or was not sent from this site. Go back, reload the page and try again.',
    };
  }
  if (type === 'entity.too.large') {
    return { status: 413, title: 'Too much data', message: 'What you sent is too large. Shorten it and try again.' };
  }
  if (type === 'charset.unsupported' || type === 'encoding.unsupported') {
    return {
      status: 415,
      title: 'Unsupported format',
      message: 'What you sent is in a format this site does not read. Go back and try again.',
    };
  }
  if (typeof type === 'string' && (type.startsWith('entity.') || type.startsWith('request.'))) {
    return { status: 400, title: 'Bad request', message: 'What you sent could not be read. Go back and try again.' };
  }
  if (isDependencyFailure(error)) {
    return {
      status: 503,
      title: 'Temporarily unavailable',
      message: `The service is having trouble right now. ${afterFailure(error, req, ' in a minute')}`,
    };
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, title: 'Bad request', message: 'That request could not be handled. Go back and try again.' };
  }
  return {
    status: 500,
    title: 'Something went wrong',
    message: `An unexpected error stopped this page. ${afterFailure(error, req, '')}`,
  };
}

export const notFound: RequestHandler = (_req, _res, next) => {
  next(new HttpError(404, 'There is nothing at this address.', 'Page not found'));
};

export function errorHandler(options: { showDetails: boolean }): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const page = describe(error, req);
    // The request log (src/web/request-log.ts) puts this on the request's one line.
    if (page.status >= 500) (res as { err?: unknown }).err = error;
    if (res.headersSent) {
      // A streamed answer broke off: ending it normally would pass a truncated body as whole.
      if (!res.writableEnded) res.destroy();
      return;
    }
    // Without a session (its store failed), forms on the page could not work: show nobody
    // as signed in.
    if (!req.session) res.locals.currentUser = undefined;
    if (page.status === 503) res.set('Retry-After', '30');
    if (error instanceof RateLimitedError) res.set('Retry-After', String(error.retryAfterSeconds));
    res.status(page.status);
    const details = options.showDetails && page.status >= 500 ? String((error as Error)?.stack ?? error) : undefined;
    if (req.accepts(['html', 'json']) === 'json') {
      res.json({ error: page.title, message: page.message });
      return;
    }
    res.render('errors/error', { title: page.title, page, details }, (renderError, html) => {
      // The layout itself may need what just failed (the session, say): fall back to plain text.
      if (renderError) res.type('text/plain').send(`${page.title}\n\n${page.message}\n`);
      else res.send(html);
    });
  };
}

/**
 * Runs the steps that follow something that cannot be taken back: a change the database has
 * committed, or a code the provider has used up. Should one fail, the error page says
 * `whatHappened` instead of a "Nothing was changed" that would no longer be true.
 */
export async function afterChange<T>(whatHappened: string, steps: () => Promise<T>): Promise<T> {
  try {
    return await steps();
  } catch (error) {
    const [status, title] = isDependencyFailure(error)
      ? [503, 'Temporarily unavailable']
      : [500, 'Something went wrong'];
    throw new HttpError(status, whatHappened, title, { cause: error });
  }
}
