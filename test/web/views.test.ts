// The one way pages show a date: UTC, to the minute or the second, in a <time> element.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import ejs from 'ejs';
import express from 'express';
import { formatDateTime, timeTag, useViews } from '../../src/web/views.js';

const at = new Date('2026-11-25T17:04:09.123Z');

describe('formatDateTime', () => {
  it('shows the UTC date and time to the minute', () => {
    assert.equal(formatDateTime(at), '2026-11-25 17:04');
  });

  it('shows seconds, and says UTC, when asked', () => {
    assert.equal(formatDateTime(at, { seconds: true }), '2026-11-25 17:04:09');
    assert.equal(formatDateTime(at, { seconds: true, zone: true }), '2026-11-25 17:04:09 UTC');
    assert.equal(formatDateTime(at, { zone: true }), '2026-11-25 17:04 UTC');
  });

  it('shows a moment given in another time zone in UTC', () => {
    assert.equal(formatDateTime(new Date('2026-01-01T00:30:00+02:00')), '2025-12-31 22:30');
  });
});

describe('timeTag', () => {
  it('puts the exact moment in datetime and the readable text inside', () => {
    assert.equal(timeTag(at), '<time datetime="2026-11-25T17:04:09.123Z">2026-11-25 17:04</time>');
    assert.equal(
      timeTag(at, { seconds: true, zone: true }),
      '<time datetime="2026-11-25T17:04:09.123Z">2026-11-25 17:04:09 UTC</time>',
    );
  });

  it('is there for every view', () => {
    const app = express();
    useViews(app, 'views');
    assert.equal(app.locals.formatDateTime, formatDateTime);
    assert.equal(app.locals.timeTag, timeTag);
  });
});

describe('includes', () => {
  it("render as EJS's own: the page's data, a partial's own values, and what a partial includes in turn", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'views-'));
    try {
      await mkdir(path.join(dir, 'partials'));
      const files: Record<string, string> = {
        'layout.ejs': "<main><%- include('/partials/title') %><%- body %></main>",
        'page.ejs':
          "<%- include('/partials/field', { name: 'email', label: 'Email <b>' }) %>|<%- include('/partials/title') %>|<%= locals.name ?? 'none' %>",
        'partials/title.ejs': '<h1><%= title %></h1>',
        'partials/field.ejs': "<label><%= label %></label><%- include('/partials/name') %><%= title %>",
        'partials/name.ejs': '[<%= name %>]',
      };
      for (const [file, text] of Object.entries(files)) await writeFile(path.join(dir, file), text);
      const app = express();
      useViews(app, dir);
      const render = () =>
        new Promise<string>((resolve, reject) =>
          app.render('page', { title: 'T&' }, (error, html) => (error ? reject(error) : resolve(html))),
        );
      // EJS's own includes, on the same files.
      const plain = (file: string, data: object) => ejs.renderFile(path.join(dir, file), data, { root: dir });
      const expected = await plain('layout.ejs', {
        title: 'T&',
        body: await plain('page.ejs', { title: 'T&', assets: {} }),
      });
      assert.equal(
        expected,
        '<main><h1>T&amp;</h1><label>Email &lt;b&gt;</label>[email]T&amp;|<h1>T&amp;</h1>|none</main>',
      );
      assert.equal(await render(), expected);
      assert.equal(await render(), expected, 'and again, from the compiled partials');
      // Their data has no prototype, as EJS's own copies have none: nothing added to
      // Object.prototype (a prototype pollution) is taken for a local.
      const prototype = Object.prototype as unknown as Record<string, unknown>;
      prototype.name = 'polluted';
      try {
        assert.equal(await render(), expected);
      } finally {
        delete prototype.name;
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
