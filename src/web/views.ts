// EJS with one layout: each page template renders into `body` of views/layout.ejs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import type { Express, Request, RequestHandler } from 'express';
import { cookieName, type CookieSettings } from './security.js';

interface PageAssets {
  scripts: string[];
  styles: string[];
}

type RenderCallback = (error: Error | null, html?: string) => void;

export interface DateTimeFormat {
  /** Down to the second (audit trails), not just the minute. */
  seconds?: boolean;
  /** Say " UTC" after the time, where the column heading does not. */
  zone?: boolean;
}

/** A date as people read it on our pages, always in UTC: "2026-11-25 17:04" ("2026-11-25 17:04:09 UTC"). */
export function formatDateTime(date: Date, { seconds = false, zone = false }: DateTimeFormat = {}): string {
  const text = date
    .toISOString()
    .replace('T', ' ')
    .slice(0, seconds ? 19 : 16);
  return zone ? `${text} UTC` : text;
}

/** A date in a page: `<time datetime="2026-11-25T17:04:09.123Z">2026-11-25 17:04</time>`, escaped, for `<%- %>`. */
export function timeTag(date: Date, format?: DateTimeFormat): string {
  return `<time datetime="${ejs.escapeXML(date.toISOString())}">${ejs.escapeXML(formatDateTime(date, format))}</time>`;
}

/**
 * The `include` views call, in place of EJS's own: a partial (named from the views directory,
 * `/partials/field`) rendered with the page's data itself, or with a copy that adds the
 * partial's own values. EJS's include copies the page's data twice per include, a `for ... in`
 * over every local (app.locals, res.locals, the page's values) with a `hasOwn` on each: 70 % of
 * the cost of a small partial (bench/findings.md), and the busiest pages have six to ten of them.
 * Partials only read their data. Views find it because EJS runs a template's code inside
 * `with (locals)`, where a local named `include` comes before EJS's own; without that, EJS's
 * include would run instead, slower but the same page.
 */
function partials(viewsDir: string) {
  const compiled = new Map<string, ejs.TemplateFunction>();
  const partialOf = (name: string, cache: boolean): ejs.TemplateFunction => {
    const filename = path.join(viewsDir, `${name}.ejs`);
    const found = cache ? compiled.get(filename) : undefined;
    if (found) return found;
    const template = ejs.compile(readFileSync(filename, 'utf8'), { filename, root: viewsDir });
    if (cache) compiled.set(filename, template);
    return template;
  };
  const includeFor = (data: Record<string, unknown>, cache: boolean) => (name: string, own?: object) => {
    if (!own) return partialOf(name, cache)(data);
    // The partial's own values, for it and for what it includes in turn.
    const copy: Record<string, unknown> = { ...data, ...own };
    copy.include = includeFor(copy, cache);
    return partialOf(name, cache)(copy);
  };
  return includeFor;
}

export function useViews(app: Express, viewsDir: string): void {
  const layoutFile = path.join(viewsDir, 'layout.ejs');
  const includeFor = partials(viewsDir);
  app.engine('ejs', (file: string, options: object, callback: RenderCallback) => {
    // A page adds its own scripts and stylesheets (assets.scripts.push(...)); the layout links
    // them in <head>. EJS copies the data it is given, so they travel in a shared object.
    const assets: PageAssets = { scripts: [], styles: [] };
    // Includes name their file from the views directory (`/partials/field`): EJS then finds
    // them without asking the disk whether a relative one exists, on every render.
    const cache = (options as { cache?: boolean }).cache === true;
    const data: Record<string, unknown> = { ...options, assets };
    data.include = includeFor(data, cache);
    const rendering = { root: viewsDir, cache };
    ejs.renderFile(file, data, rendering, (pageError, body) => {
      if (pageError) return callback(pageError);
      ejs.renderFile(layoutFile, { ...data, body }, rendering, callback);
    });
  });
  app.set('view engine', 'ejs');
  app.set('views', viewsDir);
  // Templates are compiled once per process, in every mode (`npm run dev` restarts on changes).
  app.enable('view cache');
  // Helpers every view may call: one way to show a date.
  app.locals.formatDateTime = formatDateTime;
  app.locals.timeTag = timeTag;
}

export interface Flash {
  kind: 'success' | 'info' | 'error';
  text: string;
}

/** A message waits at most this long for the page it was meant for (the next one, after a redirect). */
const FLASH_LIFETIME_MS = 60_000;
/** Enough for any page's messages, and well inside a cookie's 4 kB. */
const MAX_FLASHES = 5;

const isFlash = (value: unknown): value is Flash =>
  typeof value === 'object' &&
  value !== null &&
  ['success', 'info', 'error'].includes((value as Flash).kind) &&
  typeof (value as Flash).text === 'string';

/** The messages a (well-signed) flash cookie carries: base64url JSON, anything else is none. */
function readFlashes(value: unknown): Flash[] {
  if (typeof value !== 'string') return [];
  try {
    const carried: unknown = JSON.parse(Buffer.from(value, 'base64url').toString());
    return Array.isArray(carried) ? carried.filter(isFlash).slice(0, MAX_FLASHES) : [];
  } catch {
    return [];
  }
}

const queues = new WeakMap<Request, (message: Flash) => void>();

/** Queues a message for the next page this browser sees (after a redirect). */
export function flash(req: Request, message: Flash): void {
  queues.get(req)?.(message);
}

/**
 * Messages for the next page ride in a signed cookie, not in the session, so a message to
 * someone signed out ("You are signed out") stores nothing on the server. A message is taken
 * when a page is drawn, so a redirect on the way does not swallow it.
 */
export function flashMessages(settings: Pick<CookieSettings, 'secure'>): RequestHandler {
  const name = cookieName('tfa.flash', settings.secure);
  const options = {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    secure: settings.secure,
    path: '/',
  } as const;
  return (req, res, next) => {
    let waiting = readFlashes((req.signedCookies as Record<string, unknown> | undefined)?.[name]);
    queues.set(req, (message) => {
      waiting = [...waiting, message].slice(-MAX_FLASHES);
      const value = Buffer.from(JSON.stringify(waiting)).toString('base64url');
      res.cookie(name, value, { ...options, maxAge: FLASH_LIFETIME_MS });
    });
    res.locals.takeFlashes = (): Flash[] => {
      const messages = waiting;
      if (messages.length > 0 && !res.headersSent) res.clearCookie(name, options);
      waiting = [];
      return messages;
    };
    next();
  };
}

/** What every view may use: the signed-in user. */
export const viewLocals: RequestHandler = (req, res, next) => {
  res.locals.currentUser = req.user;
  res.locals.title = undefined;
  next();
};
