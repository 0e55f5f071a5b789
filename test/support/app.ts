// Boots the app exactly as production does (loadConfig -> openServices -> createApp), on a
// database of its own, listening on a loopback port, and drives it over real HTTP.
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { after, before } from 'node:test';
import request from 'supertest';
import { createApp } from '../../src/web/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { listen } from '../../src/core/http-server.js';
import { createLogger } from '../../src/core/logger.js';
import { openServices, type Services } from '../../src/core/services.js';
import { createTestDatabase } from './databases.js';
import { hostAndPort, startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export type Agent = ReturnType<typeof request.agent>;

export interface TestApp {
  url: string;
  databaseUrl: string;
  config: Config;
  services: Services;
  /** A fresh browser-like client with its own cookie jar. */
  agent(): Agent;
  /** Present when the app reaches its database through a proxy the test can cut. */
  databaseProxy?: TcpProxy;
  redisProxy?: TcpProxy;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Share another test app's database (a second instance of the same deployment). */
  databaseUrl?: string;
  /** Put the database behind a proxy the test can cut (fail-closed tests). */
  proxyDatabase?: boolean;
  /** Use TEST_REDIS_URL for sessions, behind a proxy the test can cut. */
  proxyRedis?: boolean;
  /** Run with the configured (production default) rate limits. */
  realLimits?: boolean;
  /** Listen on this loopback port (default: any free one), for origins that must be known beforehand (passkeys). */
  port?: number;
  /** Collect the app's log lines (parsed) here, at the level TEST_LOG_LEVEL or info. */
  logs?: Array<Record<string, unknown>>;
}

const GENEROUS_LIMITS = {
  LIMIT_SIGN_INS_PER_IP: '100000',
  LIMIT_SIGN_UPS_PER_IP: '100000',
  LIMIT_CODES_PER_IP: '100000',
  LIMIT_CODES_PER_10_MINUTES: '1000',
  LIMIT_CODES_PER_DAY: '1000',
  LIMIT_PASSWORD_RESETS_PER_IP: '100000',
};

export const redisUrl = process.env.TEST_REDIS_URL;

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.databaseUrl
    ? { url: options.databaseUrl, drop: () => Promise.resolve() }
    : await createTestDatabase();
  const cleanups: Array<() => Promise<void>> = [() => database.drop()];
  try {
    let databaseUrl = database.url;
    let databaseProxy: TcpProxy | undefined;
    if (options.proxyDatabase) {
      databaseProxy = await startTcpProxy(hostAndPort(database.url));
      cleanups.unshift(() => databaseProxy!.close());
      databaseUrl = databaseProxy.urlFor(database.url);
    }
    let sessionRedisUrl = redisUrl;
    let redisProxy: TcpProxy | undefined;
    if (options.proxyRedis) {
      if (!redisUrl) throw new Error('proxyRedis needs TEST_REDIS_URL');
      redisProxy = await startTcpProxy(hostAndPort(redisUrl));
      cleanups.unshift(() => redisProxy!.close());
      sessionRedisUrl = redisProxy.urlFor(redisUrl);
    }

    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      SESSION_SECRET: 'test-session-secret-that-is-long-enough-0123456789',
      DATABASE_URL: databaseUrl,
      // Without TEST_DATABASE_URL every test database is a PGlite, which runs one session: one
      // connection to it, as the app's own embedded database has (several interleave statements).
      DATABASE_POOL_SIZE: process.env.TEST_DATABASE_URL ? '4' : '1',
      // A PGlite keeps its one session across connections, so a statement prepared before a
      // reconnection would already exist after it.
      DATABASE_PREPARED_STATEMENTS: process.env.TEST_DATABASE_URL ? 'true' : 'false',
      // Each app its own keys in the shared Redis, unless a test shares them on purpose.
      REDIS_PREFIX: `test:${process.pid}:${randomBytes(4).toString('hex')}:`,
      // Every request of a test comes from 127.0.0.1: only the tests of the limits themselves
      // run with the production defaults.
      ...(options.realLimits ? {} : GENEROUS_LIMITS),
      ...(sessionRedisUrl ? { REDIS_URL: sessionRedisUrl } : {}),
      ...options.env,
    });
    const collected = options.logs;
    const logger = collected
      ? createLogger(process.env.TEST_LOG_LEVEL ?? 'info', {
          write: (line: string) => void collected.push(JSON.parse(line) as Record<string, unknown>),
        })
      : createLogger(config.logLevel);
    const services = await openServices(config, logger);
    cleanups.unshift(() => services.close());
    const app = createApp({ config, logger, services });
    const server = await listen(app, { ...config, port: options.port ?? 0, host: '127.0.0.1' });
    cleanups.unshift(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      url,
      databaseUrl: database.url,
      config,
      services,
      agent: () => request.agent(url),
      databaseProxy,
      redisProxy,
      close: () => runAll(cleanups),
    };
  } catch (error) {
    await runAll(cleanups);
    throw error;
  }
}

async function runAll(cleanups: Array<() => Promise<void>>): Promise<void> {
  for (const cleanup of cleanups) await cleanup().catch(() => {});
}

/** A loopback port free right now (for an app whose origin must be configured before it listens). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The CSRF token of the first form on a page. */
export function csrfTokenIn(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error('no CSRF token on the page');
  return match[1];
}

/** Fetches the form at `formPath` and submits `fields` with its CSRF token, like a browser. */
export async function submitForm(agent: Agent, formPath: string, action: string, fields: Record<string, string>) {
  const page = await agent.get(formPath).expect(200);
  return agent
    .post(action)
    .type('form')
    .send({ ...fields, _csrf: csrfTokenIn(page.text) });
}

let counter = 0;
/** An email address no other test uses. */
export function uniqueEmail(label = 'person'): string {
  counter += 1;
  return `${label}.${process.pid}.${counter}@example.com`;
}

export const strongPassword = 'correct horse battery staple';

export async function signUp(agent: Agent, email = uniqueEmail(), password = strongPassword) {
  const response = await submitForm(agent, '/signup', '/signup', {
    email,
    password,
    passwordConfirmation: password,
  });
  if (response.status !== 303) throw new Error(`sign-up failed with ${response.status}`);
  return { email, password };
}

export function signIn(agent: Agent, email: string, password: string, extra: Record<string, string> = {}) {
  return submitForm(agent, '/login', '/login', { email, password, ...extra });
}

/** Whether the agent is signed in: /account answers 200 (303 to the sign-in page otherwise; anything else fails). */
export async function isSignedIn(agent: Agent): Promise<boolean> {
  const response = await agent.get('/account');
  if (![200, 303].includes(response.status)) throw new Error(`GET /account answered ${response.status}`);
  return response.status === 200;
}

/** Confirms the password for the signed-in agent (sudo mode), as the sensitive pages ask. */
export async function confirmPassword(agent: Agent, password = strongPassword): Promise<void> {
  const response = await submitForm(agent, '/account/confirm-password', '/account/confirm-password', { password });
  if (response.status !== 303) throw new Error(`confirming the password failed with ${response.status}`);
}

/** Moves a moment kept in the session behind `cookie` (`field`) `ms` into the past, as the clock would. */
export function ageSession(
  app: TestApp,
  cookie: string,
  field: 'passwordConfirmedAt' | 'signedInAt',
  ms: number,
): Promise<void> {
  return editStoredSession<Record<string, number>>(app, cookie, (stored) => {
    stored[field]! -= ms;
  });
}

/** Changes what the store keeps of the session behind `cookie` (`name=value`), as `edit` says. */
export async function editStoredSession<T>(app: TestApp, cookie: string, edit: (stored: T) => void): Promise<void> {
  const sessionId = decodeURIComponent(cookie.split('=')[1]!).slice(2).split('.')[0]!;
  const { store } = app.services.sessions;
  const stored = await new Promise<T>((resolve, reject) =>
    store.get(sessionId, (error, data) => (error ? reject(error as Error) : resolve(data as never))),
  );
  edit(stored);
  await new Promise<void>((resolve, reject) =>
    store.set(sessionId, stored as never, (error) => (error ? reject(error as Error) : resolve())),
  );
}

/** Moves the password confirmation of the session behind `cookie` `ms` into the past. */
export const agePasswordConfirmation = (app: TestApp, cookie: string, ms: number) =>
  ageSession(app, cookie, 'passwordConfirmedAt', ms);

/** Every cookie a response set, as `name=value` pairs for a Cookie header. */
export function cookiesSet(response: { headers: Record<string, unknown> }): string[] {
  const cookies = (response.headers['set-cookie'] as string[] | undefined) ?? [];
  return cookies.map((cookie) => cookie.split(';')[0]!);
}

/** The session cookie's `name=value` from a response, if it set one. */
export function sessionCookie(response: { headers: Record<string, unknown> }, name = 'tfa.sid'): string | undefined {
  return cookiesSet(response).find((cookie) => cookie.startsWith(`${name}=`));
}

/**
 * For a describe block: an app started before its tests and closed after them. Read `.app`
 * inside the tests.
 */
export function appForTests(options: TestAppOptions = {}): { app: TestApp } {
  const running = {} as { app: TestApp };
  before(async () => {
    running.app = await startTestApp(options);
  });
  after(async () => {
    await running.app?.close();
  });
  return running;
}
