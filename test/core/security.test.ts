import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { safeLocalPath, securityHeaders } from '../../src/web/security.js';
import { csrfTokenIn, signUp, appForTests, strongPassword, uniqueEmail } from '../support/app.js';

describe('safeLocalPath', () => {
  it('keeps paths on this site, with their query and fragment', () => {
    assert.equal(safeLocalPath('/account'), '/account');
    assert.equal(safeLocalPath('/a/b?c=d&e=f#g'), '/a/b?c=d&e=f#g');
    assert.equal(safeLocalPath('/../account'), '/account');
  });

  for (const hostile of [
    'https://evil.example',
    '//evil.example',
    '///evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    'javascript:alert(1)',
    'data:text/html,hi',
    '/\tevil',
    '/\r\nLocation: https://evil.example',
    'evil.example/account',
    '',
  ]) {
    it(`refuses ${JSON.stringify(hostile)}`, () => {
      assert.equal(safeLocalPath(hostile, '/fallback'), '/fallback');
    });
  }

  it('refuses values that are not strings, and absurdly long ones', () => {
    assert.equal(safeLocalPath(['/a', '/b'], '/fallback'), '/fallback');
    assert.equal(safeLocalPath(undefined, '/fallback'), '/fallback');
    assert.equal(safeLocalPath(`/${'a'.repeat(5000)}`, '/fallback'), '/fallback');
  });
});

describe('web security basics', () => {
  const running = appForTests();

  it('refuses a sign-in without a CSRF token, with 403 and a calm page', async () => {
    const agent = running.app.agent();
    await agent.get('/login').expect(200);
    const response = await agent.post('/login').type('form').send({ email: 'a@example.com', password: strongPassword });
    assert.equal(response.status, 403);
    assert.match(response.text, /This form has expired/);
  });

  it('refuses a token from another session (a forged cross-site form)', async () => {
    const attacker = running.app.agent();
    const attackerToken = csrfTokenIn((await attacker.get('/signup').expect(200)).text);
    const victim = running.app.agent();
    await victim.get('/signup').expect(200);
    const forged = await victim
      .post('/signup')
      .type('form')
      .send({
        email: uniqueEmail('forged'),
        password: strongPassword,
        passwordConfirmation: strongPassword,
        _csrf: attackerToken,
      });
    assert.equal(forged.status, 403);
    assert.equal(
      await running.app.services.database.prisma.user.count({ where: { email: { startsWith: 'forged.' } } }),
      0,
    );
  });

  it('refuses a sign-out without the token, so another site cannot sign people out', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    const response = await agent.post('/logout').type('form').send({});
    assert.equal(response.status, 403);
    await agent.get('/account').expect(200);
  });

  it('has no sign-out on GET', async () => {
    const agent = running.app.agent();
    await signUp(agent);
    const response = await agent.get('/logout');
    assert.equal(response.status, 404);
    await agent.get('/account').expect(200);
  });

  it('sends a strict content security policy and refuses framing', async () => {
    const response = await running.app.agent().get('/login').expect(200);
    const csp = response.headers['content-security-policy'] as string;
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
    assert.equal(response.headers['x-powered-by'], undefined);
    assert.doesNotMatch(response.text, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script on the page');
    assert.deepEqual(
      {
        coop: response.headers['cross-origin-opener-policy'],
        corp: response.headers['cross-origin-resource-policy'],
        oac: response.headers['origin-agent-cluster'],
        referrer: response.headers['referrer-policy'],
        dns: response.headers['x-dns-prefetch-control'],
        download: response.headers['x-download-options'],
        frame: response.headers['x-frame-options'],
        crossDomain: response.headers['x-permitted-cross-domain-policies'],
        xss: response.headers['x-xss-protection'],
        hsts: response.headers['strict-transport-security'],
      },
      {
        coop: 'same-origin',
        corp: 'same-origin',
        oac: '?1',
        referrer: 'same-origin',
        dns: 'off',
        download: 'noopen',
        frame: 'SAMEORIGIN',
        crossDomain: 'none',
        xss: '0',
        hsts: undefined,
      },
    );
  });

  it('adds HSTS and upgrade-insecure-requests in production only', () => {
    const headersOf = (isProduction: boolean) => {
      const set = new Map<string, string>();
      const res = { setHeader: (name: string, value: string) => set.set(name, value) };
      securityHeaders({ isProduction })({} as never, res as never, () => undefined);
      return set;
    };
    const production = headersOf(true);
    assert.match(production.get('Strict-Transport-Security') ?? '', /^max-age=\d+; includeSubDomains$/);
    assert.match(production.get('Content-Security-Policy') ?? '', /;upgrade-insecure-requests$/);
    const development = headersOf(false);
    assert.equal(development.get('Strict-Transport-Security'), undefined);
    assert.doesNotMatch(development.get('Content-Security-Policy') ?? '', /upgrade-insecure-requests/);
    assert.equal(development.size, 11);
  });

  it('answers an oversized form with 413 and a readable page, storing nothing', async () => {
    const agent = running.app.agent();
    const token = csrfTokenIn((await agent.get('/signup').expect(200)).text);
    const response = await agent
      .post('/signup')
      .type('form')
      .send({ email: uniqueEmail('huge'), password: 'x'.repeat(40_000), passwordConfirmation: 'x', _csrf: token });
    assert.equal(response.status, 413);
    assert.match(response.text, /Too much data/);
    assert.equal(
      await running.app.services.database.prisma.user.count({ where: { email: { startsWith: 'huge.' } } }),
      0,
    );
  });

  it('answers a body in an unknown charset with 415 and a readable page', async () => {
    const response = await running.app
      .agent()
      .post('/login')
      .set('Content-Type', 'application/x-www-form-urlencoded; charset=klingon')
      .send('email=a');
    assert.equal(response.status, 415);
    assert.match(response.text, /Unsupported format/);
    assert.doesNotMatch(response.text, /at .*\.(js|ts):\d+/);
  });

  it('answers a malformed body with 400, and an unknown encoding with 415', async () => {
    const garbled = await running.app
      .agent()
      .post('/login')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .set('Content-Encoding', 'gzip')
      .send('this is not gzip');
    assert.equal(garbled.status, 400);
    assert.match(garbled.text, /could not be (read|handled)/);
    const unknown = await running.app
      .agent()
      .post('/login')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .set('Content-Encoding', 'x-unknown')
      .send('email=a');
    assert.equal(unknown.status, 415);
  });

  it('answers a form with absurdly many fields with 413', async () => {
    const fields = Array.from({ length: 500 }, (_, i) => `f${i}=x`).join('&');
    const response = await running.app.agent().post('/login').type('form').send(fields);
    assert.equal(response.status, 413);
  });

  it('answers an unknown address with a 404 page and no stack trace', async () => {
    const response = await running.app.agent().get('/no/such/page').expect(404);
    assert.match(response.text, /Page not found/);
    assert.doesNotMatch(response.text, /at .*\.(js|ts):\d+|Error:/);
  });

  it('serves its stylesheet itself, no CDN', async () => {
    const page = await running.app.agent().get('/').expect(200);
    assert.doesNotMatch(page.text, /https?:\/\/(?!localhost)[^"']+\.(css|js)/);
    const css = await running.app.agent().get('/css/app.css').expect(200);
    assert.match(css.headers['content-type'] as string, /text\/css/);
  });

  it('sends pages without an ETag (each holds a fresh form token), static files with one', async () => {
    const page = await running.app.agent().get('/login').expect(200);
    assert.equal(page.headers.etag, undefined);
    const css = await running.app.agent().get('/css/app.css').expect(200);
    assert.ok(css.headers.etag, 'a static file is tagged');
    await running.app.agent().get('/css/app.css').set('If-None-Match', css.headers.etag).expect(304);
  });

  it('links its files under fingerprinted names that may be kept for a year, and a stale name uncached', async () => {
    const page = await running.app.agent().get('/signup').expect(200);
    const linked = [...page.text.matchAll(/(?:href|src)="(\/[^"]+\.[0-9a-f]{10}\.(?:css|js|svg))"/g)].map((m) => m[1]!);
    assert.ok(
      linked.some((url) => url.startsWith('/css/app.')),
      linked.join(' '),
    );
    for (const url of linked) {
      const file = await running.app.agent().get(url).expect(200);
      assert.equal(file.headers['cache-control'], 'public, max-age=31536000, immutable', url);
      const plain = await running.app
        .agent()
        .get(url.replace(/\.[0-9a-f]{10}\./, '.'))
        .expect(200);
      assert.equal(plain.text, file.text, `${url} is the plain file`);
    }
    await running.app.agent().get('/vendor/intl-tel-input/css/intlTelInput.css').expect(200);
    const stale = await running.app.agent().get('/css/app.0123456789.css').expect(200);
    assert.equal(stale.headers['cache-control'], 'no-cache');
    await running.app.agent().get('/css/nothing.0123456789.css').expect(404);
    // Odd spellings of a real file's name are no fingerprint of it, and nothing to remember.
    const { hostname, port } = new URL(running.app.url);
    for (const odd of [
      '/css/made-up/../app.0000000000.css',
      '/css/%61pp.0000000000.css',
      '/x%00.0000000000.js',
      `/nothere/${'a'.repeat(5000)}.0000000000.css`,
    ]) {
      const status = await new Promise<number>((resolve, reject) =>
        http
          .get({ hostname, port, path: odd }, (answer) => {
            answer.resume();
            resolve(answer.statusCode ?? 0);
          })
          .on('error', reject),
      );
      assert.ok([400, 404].includes(status), `${odd.slice(0, 60)}: ${status}`);
    }
    await running.app.agent().get('/css/../../package.json').expect(404);
  });
});
