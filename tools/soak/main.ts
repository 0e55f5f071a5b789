// `npm run soak -- --minutes N`: the real server process (as `npm start` runs it) on real
// Postgres and Redis, each behind a TCP proxy the soak cuts, with the Twilio stand-in sending
// the codes. 50 connections of mixed traffic (sign-ups, 2FA enrolments, sign-ins with wrong
// and right passwords and codes, page views) while Redis and then Postgres vanish for a few
// seconds each minute. Prints what it saw and exits non-zero when a promise broke: anyone let
// in with a wrong password or code, a write answered as done but missing or half-written, a
// 5xx other than the calm 503, a request left unanswered, or no recovery after a cut.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createTestDatabase } from '../../test/support/databases.js';
import { startServer, stop } from '../../test/support/processes.js';
import { hostAndPort, startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.js';
import { startTwilioStandIn, twilioEnv } from '../../test/support/twilio.js';
import { Traffic } from './journeys.js';
import { Ledger } from './ledger.js';

const CONNECTIONS = 50;
const CUT_SECONDS = 5;
/** Seconds into each minute at which each dependency is cut. */
const CUTS = [
  { dependency: 'Redis', atSecond: 15 },
  { dependency: 'Postgres', atSecond: 40 },
] as const;
const RECOVERY_LIMIT_MS = 60_000;
const RSS_SAMPLE_MS = 1_000;

interface Cut {
  dependency: string;
  atSecond: number;
  recoveredAfterMs: number | undefined;
}

function readMinutes(): number {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '1' } } });
  const minutes = Number(values.minutes);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 24 * 60) {
    throw new Error('--minutes must be a whole number of minutes, from 1 to 1440');
  }
  return minutes;
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} must name the ${name.includes('REDIS') ? 'Redis' : 'Postgres'} server to soak against`);
  return value;
}

function readinessStatus(baseUrl: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(new URL('/readyz', baseUrl), { agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.setTimeout(5_000, () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

/** How long after the dependency came back /readyz said "ready" again. */
async function recoveryTime(baseUrl: string): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < RECOVERY_LIMIT_MS) {
    if ((await readinessStatus(baseUrl)) === 200) return Date.now() - started;
    await sleep(100);
  }
  return undefined;
}

async function residentMegabytes(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kilobytes = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kilobytes ? Math.round(Number(kilobytes) / 1024) : undefined;
}

async function main(): Promise<number> {
  const minutes = readMinutes();
  const redisUrl = requiredEnv('TEST_REDIS_URL');
  requiredEnv('TEST_DATABASE_URL');

  const database = await createTestDatabase();
  const proxies: Record<(typeof CUTS)[number]['dependency'], TcpProxy> = {
    Redis: await startTcpProxy(hostAndPort(redisUrl)),
    Postgres: await startTcpProxy(hostAndPort(database.url)),
  };
  const standIn = await startTwilioStandIn();
  const errorLogs: string[] = [];
  let errorLogCount = 0;
  const server = await startServer(
    {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      SESSION_SECRET: 'soak-session-secret-that-is-long-enough-0123456789',
      DATABASE_URL: proxies.Postgres.urlFor(database.url),
      REDIS_URL: proxies.Redis.urlFor(redisUrl),
      REDIS_PREFIX: `soak:${process.pid}:`,
      ...twilioEnv(standIn.url),
      // All traffic comes from 127.0.0.1: per-IP limits would refuse the soak, not test the app.
      LIMIT_SIGN_INS_PER_IP: '1000000',
      LIMIT_SIGN_UPS_PER_IP: '1000000',
      LIMIT_CODES_PER_IP: '1000000',
    },
    (line) => {
      const entry = JSON.parse(line) as {
        level?: number;
        msg?: string;
        err?: { message?: string };
        req?: { url?: string };
        res?: { statusCode?: number };
      };
      // A 503 is logged as an error with its cause; those are expected during a cut.
      if ((entry.level ?? 0) < 50 || entry.res?.statusCode === 503) return;
      errorLogCount += 1;
      if (errorLogs.length < 10)
        errorLogs.push(`${entry.req?.url ?? ''} ${entry.msg ?? ''}: ${entry.err?.message ?? ''}`.trim());
    },
  );

  const rss: number[] = [];
  const sampler = setInterval(() => {
    void residentMegabytes(server.process.pid!).then((megabytes) => megabytes !== undefined && rss.push(megabytes));
  }, RSS_SAMPLE_MS);

  const ledger = new Ledger();
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const traffic = new Traffic(server.url, agent, ledger, standIn);
  const startedAt = Date.now();
  const deadline = startedAt + minutes * 60_000;
  const cuts: Cut[] = [];

  async function cutOnSchedule(): Promise<void> {
    for (let minute = 0; minute < minutes; minute += 1) {
      for (const { dependency, atSecond } of CUTS) {
        await sleep(startedAt + (minute * 60 + atSecond) * 1_000 - Date.now());
        proxies[dependency].down();
        await sleep(CUT_SECONDS * 1_000);
        proxies[dependency].up();
        cuts.push({ dependency, atSecond: minute * 60 + atSecond, recoveredAfterMs: await recoveryTime(server.url) });
      }
    }
  }

  async function connection(): Promise<void> {
    while (Date.now() < deadline) await traffic.journey();
  }

  console.log(
    `Soak: ${minutes} minute(s), ${CONNECTIONS} connections, Redis and Postgres each cut for ${CUT_SECONDS} s every minute`,
  );
  try {
    await Promise.all([cutOnSchedule(), ...Array.from({ length: CONNECTIONS }, connection)]);
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }

  const checks = new pg.Client({ connectionString: database.url });
  await checks.connect();
  const missing = async (sql: string, emails: Set<string>) =>
    (await checks.query<{ email: string }>(sql, [[...emails]])).rows.map((row) => row.email);
  const lostSignUps = await missing(
    'SELECT e AS email FROM unnest($1::text[]) AS e WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = e)',
    ledger.signedUp,
  );
  const lostEnrolments = await missing(
    'SELECT email FROM users u WHERE email = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM user_factors f WHERE f.user_id = u.id)',
    ledger.enrolled,
  );
  const withoutSignUpEvent = (
    await checks.query<{ email: string }>(
      "SELECT email FROM users u WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.user_id = u.id AND a.type = 'sign_up')",
    )
  ).rows.map((row) => `${row.email} has no sign_up event`);
  const withoutEnabledEvent = (
    await checks.query<{ email: string }>(
      "SELECT email FROM users u WHERE EXISTS (SELECT 1 FROM user_factors f WHERE f.user_id = u.id) AND NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.user_id = u.id AND a.type = 'two_factor_enabled')",
    )
  ).rows.map((row) => `${row.email} has 2FA on without a two_factor_enabled event`);
  await checks.end();

  const exitCode = await stop(server);
  await Promise.all([proxies.Redis.close(), proxies.Postgres.close(), standIn.stop()]);
  await database.drop();

  const lost = [
    ...lostSignUps.map((email) => `${email}: sign-up answered 303, no account`),
    ...lostEnrolments.map((email) => `${email}: enrolment answered 303, 2FA off`),
  ];
  const halfWritten = [...withoutSignUpEvent, ...withoutEnabledEvent];
  const byStatus = [...ledger.statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status} x${count}`);
  const list = (items: string[]) => (items.length ? `\n    ${items.slice(0, 10).join('\n    ')}` : '');
  console.log(`Requests answered: ${ledger.answered} (${byStatus.join(', ')})`);
  console.log(`Unanswered requests: ${ledger.unansweredCount}${list(ledger.unanswered)}`);
  console.log(`5xx other than 503: ${ledger.serverErrorCount}${list(ledger.serverErrors)}`);
  console.log(`Wrong entries: ${ledger.wrongEntries.length}${list(ledger.wrongEntries)}`);
  console.log(
    `Lost writes: ${lost.length} (sign-ups answered 303: ${ledger.signedUp.size}, enrolments answered 303: ${ledger.enrolled.size})${list(lost)}`,
  );
  console.log(`Half-written records: ${halfWritten.length}${list(halfWritten)}`);
  for (const cut of cuts) {
    const recovered =
      cut.recoveredAfterMs === undefined
        ? `not ready within ${RECOVERY_LIMIT_MS / 1000} s`
        : `ready ${(cut.recoveredAfterMs / 1000).toFixed(1)} s after it came back`;
    console.log(`Cut: ${cut.dependency} at ${cut.atSecond} s for ${CUT_SECONDS} s, ${recovered}`);
  }
  if (rss.length) console.log(`App RSS: start ${rss[0]} MB, peak ${Math.max(...rss)} MB, end ${rss.at(-1)} MB`);
  console.log(`App log lines at error level, 503 answers aside: ${errorLogCount}${list(errorLogs)}`);
  console.log(`App exit on SIGTERM: ${exitCode}`);

  const broken = [
    ledger.wrongEntries.length && 'someone was let in with a wrong password or code',
    lost.length && 'a write answered as done is missing',
    halfWritten.length && 'a record is half-written',
    ledger.serverErrorCount && 'a 5xx other than 503 was answered',
    ledger.unansweredCount && 'a request got no answer',
    cuts.some((cut) => cut.recoveredAfterMs === undefined) && 'the app did not recover after a cut',
  ].filter((problem): problem is string => Boolean(problem));
  for (const problem of broken) console.log(`BROKEN: ${problem}`);
  if (!broken.length) console.log('All invariants held.');
  return broken.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('Soak failed to run:', error instanceof Error ? error.message : error);
    process.exitCode = 2;
  },
);
