// EJS with one layout: each page template renders into `body` of views/layout.ejs.
import path from 'node:path';
import ejs from 'ejs';
import type { Express, RequestHandler } from 'express';
import { csrfTokenFor } from './security.js';

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

export function useViews(app: Express, viewsDir: string): void {
  const layoutFile = path.join(viewsDir, 'layout.ejs');
  app.engine('ejs', (file: string, options: object, callback: RenderCallback) => {
    // A page adds its own scripts and stylesheets (assets.scripts.push(...)); the layout links
    // them in <head>. EJS copies the data it is given, so they travel in a shared object.
    const assets: PageAssets = { scripts: [], styles: [] };
    ejs.renderFile(file, { ...options, assets }, (pageError, body) => {
      if (pageError) return callback(pageError);
      ejs.renderFile(layoutFile, { ...options, assets, body }, callback);
    });
  });
  app.set('view engine', 'ejs');
  app.set('views', viewsDir);
  // Helpers every view may call: one way to show a date.
  app.locals.formatDateTime = formatDateTime;
  app.locals.timeTag = timeTag;
}

export interface Flash {
  kind: 'success' | 'info' | 'error';
  text: string;
}

declare module 'express-session' {
  interface SessionData {
    flash?: Flash[];
  }
}

/** Queues a message for the next page this session sees (after a redirect). */
export function flash(req: Parameters<RequestHandler>[0], message: Flash): void {
  if (!req.session) return;
  req.session.flash = [...(req.session.flash ?? []), message];
}

/** What every view may use: the signed-in user, pending messages, a CSRF token on demand. */
export const viewLocals: RequestHandler = (req, res, next) => {
  res.locals.currentUser = req.user;
  res.locals.csrfToken = () => csrfTokenFor(req);
  // Messages are taken when a page is drawn, so a redirect on the way does not swallow them.
  res.locals.takeFlashes = (): Flash[] => {
    const messages = req.session?.flash ?? [];
    if (req.session?.flash) delete req.session.flash;
    return messages;
  };
  res.locals.title = undefined;
  next();
};
