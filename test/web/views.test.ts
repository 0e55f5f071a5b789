// The one way pages show a date: UTC, to the minute or the second, in a <time> element.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
