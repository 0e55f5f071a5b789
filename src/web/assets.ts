// Static files: public/ and the vendored packages the pages use, served without touching the
// disk for any other path. Pages link them under fingerprinted names (/css/app.1a2b3c4d5e.css,
// the name carrying a hash of the content), which browsers and proxies may keep for a year: a
// changed file gets a new name. The plain names are served too, briefly cached, for what links
// them from inside a file (a stylesheet's images).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler } from 'express';

/** A directory served under a URL prefix ('' for the site's root). */
export interface AssetRoot {
  prefix: string;
  dir: string;
}

const FINGERPRINT = /^(.+)\.([0-9a-f]{10})(\.[A-Za-z0-9]+)$/;
const A_YEAR = 'public, max-age=31536000, immutable';

export function staticAssets(roots: AssetRoot[], options: { plainMaxAge: string | number }) {
  const fingerprints = new Map<string, string>();

  // The longest prefix first: /vendor/x/a.css is the vendored package's, not public/vendor's.
  const byPrefix = [...roots].sort((a, b) => b.prefix.length - a.prefix.length);

  const found = new Map<string, string>();

  /** The file behind a plain URL path, when it is one inside one of the roots (remembered once found). */
  function fileOf(urlPath: string): string | undefined {
    const known = found.get(urlPath);
    if (known) return known;
    const file = lookUp(urlPath);
    if (file) found.set(urlPath, file);
    return file;
  }

  function lookUp(urlPath: string): string | undefined {
    for (const { prefix, dir } of byPrefix) {
      if (!urlPath.startsWith(`${prefix}/`)) continue;
      let file: string;
      try {
        file = path.join(dir, decodeURIComponent(urlPath.slice(prefix.length)));
      } catch {
        return undefined;
      }
      if (!file.startsWith(`${dir}${path.sep}`)) return undefined;
      return statSync(file, { throwIfNoEntry: false })?.isFile() ? file : undefined;
    }
    return undefined;
  }

  /** The fingerprinted URL of a plain one (read and hashed once per process). */
  function url(urlPath: string): string {
    let fingerprinted = fingerprints.get(urlPath);
    if (fingerprinted) return fingerprinted;
    const file = fileOf(urlPath);
    if (!file) throw new Error(`no static file behind ${urlPath}`);
    const hash = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 10);
    fingerprinted = urlPath.replace(/(\.[A-Za-z0-9]+)$/, `.${hash}$1`);
    fingerprints.set(urlPath, fingerprinted);
    return fingerprinted;
  }

  // Each root's static handler sees only paths under its own top-level entries, so a page's
  // path (/login) costs no file lookup.
  const handlers = byPrefix.map(({ prefix, dir }) => {
    const entries = new Set(readdirSync(dir));
    const serve = express.static(dir, { index: false, maxAge: options.plainMaxAge, fallthrough: true });
    return { prefix, entries, serve };
  });

  const middleware: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const named = FINGERPRINT.exec(req.path);
    if (named) {
      const plain = `${named[1]}${named[3]}`;
      const file = fileOf(plain);
      if (file) {
        let current: string | undefined;
        try {
          current = url(plain);
        } catch {
          return next();
        }
        // A name from another version (a page from before a deploy) gets today's file, uncached.
        res.set('Cache-Control', current === req.path ? A_YEAR : 'no-cache');
        return res.sendFile(file, { cacheControl: false }, (error) => {
          if (error && !res.headersSent) next();
        });
      }
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

  return { url, middleware };
}
