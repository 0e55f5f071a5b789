// Static files: public/ and the vendored packages the pages use. Pages link them under
// fingerprinted names (/css/app.1a2b3c4d5e.css, the name carrying a hash of the content), which
// browsers and proxies may keep for a year: a changed file gets a new name. Every name is worked
// out once, at start-up, from the files themselves, so a request never makes the server read,
// hash or remember anything new, and every instance of a deployment knows every name. The plain
// names are served too, briefly cached, for what links them from inside a file (a stylesheet's
// images); only paths under a root's own top-level entries reach the disk.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler } from 'express';

/** A directory served under a URL prefix ('' for the site's root). */
export interface AssetRoot {
  prefix: string;
  dir: string;
}

const FINGERPRINT = /^(.+)\.[0-9a-f]{10}(\.[A-Za-z0-9]+)$/;
const A_YEAR = 'public, max-age=31536000, immutable';

/** Every file under `dir`, as paths relative to it with forward slashes. */
function filesUnder(dir: string, relative = ''): string[] {
  return readdirSync(path.join(dir, relative), { withFileTypes: true }).flatMap((entry) => {
    const name = relative ? `${relative}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return filesUnder(dir, name);
    return entry.isFile() ? [name] : [];
  });
}

export function staticAssets(roots: AssetRoot[], options: { plainMaxAge: string | number }) {
  /** Plain URL path -> fingerprinted one; fingerprinted URL path -> the file. */
  const fingerprinted = new Map<string, string>();
  const files = new Map<string, string>();
  for (const { prefix, dir } of roots) {
    for (const relative of filesUnder(dir)) {
      const file = path.join(dir, relative);
      const plain = `${prefix}/${relative}`;
      const hash = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 10);
      const named = plain.replace(/(\.[A-Za-z0-9]+)?$/, (extension) => `.${hash}${extension}`);
      fingerprinted.set(plain, named);
      files.set(named, file);
    }
  }

  // Each root's static handler sees only paths under its own top-level entries, so a page's
  // path (/login) costs no file lookup. The longest prefix first: /vendor/x is the package's.
  const handlers = [...roots]
    .sort((a, b) => b.prefix.length - a.prefix.length)
    .map(({ prefix, dir }) => ({
      prefix,
      entries: new Set(readdirSync(dir)),
      serve: express.static(dir, { index: false, maxAge: options.plainMaxAge, fallthrough: true }),
    }));

  const middleware: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const file = files.get(req.path);
    // A name of another version of the file (a page from before a deploy) gets today's, uncached.
    const stale = file ? undefined : FINGERPRINT.exec(req.path);
    const current = stale ? fingerprinted.get(`${stale[1]}${stale[2]}`) : undefined;
    if (file || current) {
      res.set('Cache-Control', file ? A_YEAR : 'no-cache');
      return res.sendFile(file ?? files.get(current!)!, { cacheControl: false }, (error) => {
        if (error && !res.headersSent) next();
      });
    }
    for (const { prefix, entries, serve } of handlers) {
      if (!req.path.startsWith(`${prefix}/`)) continue;
      const first = req.path.slice(prefix.length + 1).split('/')[0] ?? '';
      if (!entries.has(first)) continue;
      req.url = req.url.slice(prefix.length) || '/';
      return serve(req, res, () => {
        req.url = `${prefix}${req.url}`;
        next();
      });
    }
    next();
  };

  return {
    /** The fingerprinted URL of a plain one; a name no file has is a mistake in a template. */
    url: (plain: string): string => {
      const named = fingerprinted.get(plain);
      if (!named) throw new Error(`no static file behind ${plain}`);
      return named;
    },
    middleware,
  };
}
