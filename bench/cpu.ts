// CPU time per request of each server process (read from /proc), with Postgres' and Redis'
// CPU and their statement and command counts, for comparing builds side by side on a shared
// machine, where req/s says little (bench/findings.md). Routes: login, account (signed in),
// healthz, protected (the API's), signin (POST /login, another person's account), code (POST
// /login/2fa: the right code of a phone, each request a sign-in of its own waiting at its code
// step, made before each run; the apps' codes go through the Twilio stand-in).
//   node --import tsx bench/cpu.ts <checkout>[::NAME=value,...] ...
// Each checkout (with node_modules) runs its own app on a database of its own; `::` gives one
// settings of its own (UV_THREADPOOL_SIZE=2, say). Runs are interleaved, after a warm-up.
// Env: CPU_REQUESTS per run (3000), CPU_ROUNDS (3), CPU_CONNECTIONS (20), CPU_ROUTES (a comma
// list), CPU_SESSIONS (the measured person's other signed-in sessions, 0: each is a sign-in),
// CPU_TWO_FACTOR=1 (the measured person has a phone, a passkey and recovery codes, written
// straight into the database), CPU_BARE=1 (bench/bare-server.ts too), CPU_PROF=1 (`node --cpu-prof` into
// /tmp/cpu-prof), CPU_REDIS_URL: Redis counts every client's commands, so a Redis of its own
// (redis-server --port 6390) gives exact counts; TEST_DATABASE_URL, the Postgres server.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import pg from 'pg';
import { createClient } from 'redis';
import request from 'supertest';
import { createTestDatabase } from '../test/support/databases.js';
import { twilioEnv } from '../test/support/twilio.js';
import { pendingCodeSteps, startStandIn, type StandIn } from './code-steps.js';
import { cookiesOf, formOf, submit } from './load.js';

const REQUESTS = Number(process.env.CPU_REQUESTS ?? 3000);
const ROUNDS = Number(process.env.CPU_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.CPU_CONNECTIONS ?? 20);
const REDIS_URL = process.env.CPU_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SESSIONS = Number(process.env.CPU_SESSIONS ?? 0);
const TWO_FACTOR = Boolean(process.env.CPU_TWO_FACTOR);
const PASSWORD = 'correct horse battery staple';
const dirs = process.argv.slice(2);

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in 1/100 s
}

function start(cwd: string, script: string, env: Record<string, string>, flags: string[] = []) {
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', script], {
    cwd,
    env: { PATH: process.env.PATH, PORT: '0', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise<{ url: string; pid: number; stop: () => Promise<void> }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      const url = /"url":"(http[^"]+)"/.exec(text)?.[1];
      const port = /"listening":(\d+)/.exec(text)?.[1];
      if (url || port)
        resolve({
          url: url ?? `http://127.0.0.1:${port}`,
          pid: child.pid!,
          stop: () => new Promise((done) => child.once('exit', () => done()).kill('SIGTERM')),
        });
    });
    child.once('exit', (code) => reject(new Error(`${cwd} ${script} exited with ${code}`)));
  });
}

interface Server {
  name: string;
  url: string;
  pid: number;
  database: string;
  redisPrefix: string;
  /** A route's request, or what makes the requests of a run of `count` (each used once). */
  routes: Record<string, autocannon.Request | ((count: number) => Promise<autocannon.Request>)>;
  stop: () => Promise<void>;
}

/** One request per item of `bodies`, in turn: posts of a form, each with its own cookie. */
function posts(path: string, bodies: Array<{ cookie: string; body: string }>): autocannon.Request {
  let next = 0;
  return {
    method: 'POST',
    path,
    setupRequest: (req) => {
      const { cookie, body } = bodies[next++ % bodies.length]!;
      return {
        ...req,
        headers: { ...req.headers, 'content-type': 'application/x-www-form-urlencoded', cookie },
        body,
      };
    },
  };
}

/** Two-factor authentication for `email`, as enrolling would leave it: a phone, a passkey, ten recovery codes. */
async function giveTwoFactor(url: string, email: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const factor = async (kind: string, phone: string | null) =>
      (
        await client.query<{ id: string }>(
          `INSERT INTO user_factors (id, user_id, kind, phone_number)
           SELECT gen_random_uuid(), id, $2, $3 FROM users WHERE email = $1 RETURNING id`,
          [email, kind, phone],
        )
      ).rows[0]!.id;
    await factor('phone', '+33612345678');
    await client.query(
      `INSERT INTO passkey_credentials (id, factor_id, credential_id, public_key, transports, name)
       VALUES (gen_random_uuid(), $1, $2, '\\x00', '{internal}', 'Work laptop')`,
      [await factor('passkey', null), randomBytes(16).toString('base64url')],
    );
    await client.query(
      `INSERT INTO recovery_codes (id, factor_id, code_hash)
       SELECT gen_random_uuid(), $1, encode(sha256(n::text::bytea), 'hex') FROM generate_series(1, 10) n`,
      [await factor('recovery_codes', null)],
    );
  } finally {
    await client.end();
  }
}

async function main() {
  const redis = createClient({ url: REDIS_URL });
  await redis.connect();
  const servers: Server[] = [];
  const drops: Array<() => Promise<void>> = [];
  const routeNames = (process.env.CPU_ROUTES ?? 'login,account,healthz,protected').split(',');
  // The code step sends its codes through Twilio: the stand-in, one for every app.
  let standIn: StandIn | undefined;
  try {
    if (routeNames.includes('code')) standIn = await startStandIn();
    for (const [index, spec] of dirs.entries()) {
      // `dir` or `dir::NAME=value,NAME=value`: the same checkout with settings of its own.
      const [dir, settings] = spec.split('::') as [string, string | undefined];
      const extra: Record<string, string> = Object.fromEntries(
        (settings ?? '')
          .split(',')
          .filter(Boolean)
          .map((pair) => pair.split('=') as [string, string]),
      );
      const database = await createTestDatabase();
      drops.push(() => database.drop());
      const redisPrefix = `cpu:${index}:${randomBytes(3).toString('hex')}:`;
      const app = await start(
        dir,
        'src/server.ts',
        {
          NODE_ENV: 'test',
          LOG_LEVEL: 'info',
          SESSION_SECRET: randomBytes(32).toString('base64url'),
          DATABASE_URL: database.url,
          REDIS_URL,
          REDIS_PREFIX: redisPrefix,
          LIMIT_SIGN_INS_PER_IP: '100000000',
          LIMIT_SIGN_IN_LOCK_AFTER: '100000000',
          LIMIT_SIGN_UPS_PER_IP: '100000000',
          LIMIT_CODES_PER_IP: '100000000',
          ...(standIn ? twilioEnv(standIn.url) : {}),
          ...extra,
        },
        process.env.CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=/tmp/cpu-prof/${index}`] : [],
      );
      const email = `cpu-${randomBytes(4).toString('hex')}@bench.example`;
      const signup = await formOf(app.url, '/signup');
      const created = await submit(app.url, '/signup', signup, {
        email,
        password: PASSWORD,
        passwordConfirmation: PASSWORD,
      });
      const session = cookiesOf(created).filter((cookie) => !cookie.startsWith('tfa.flash='));
      if (TWO_FACTOR) await giveTwoFactor(database.url, email);
      const firstPage = await request(app.url).get('/account').set('Cookie', session.join('; '));
      const cookie = [...session, ...cookiesOf(firstPage).filter((c) => c.startsWith('tfa.csrf='))].join('; ');
      const token = await request(app.url)
        .post('/api/auth/token')
        .send({ grant_type: 'password', email, password: PASSWORD });
      const bearer = `Bearer ${(token.body as { access_token: string }).access_token}`;
      // Sign-ins are another person's, so the first one's account page keeps one session.
      const signer = `cpu-signer-${randomBytes(4).toString('hex')}@bench.example`;
      const signerForm = await formOf(app.url, '/signup');
      await submit(app.url, '/signup', signerForm, {
        email: signer,
        password: PASSWORD,
        passwordConfirmation: PASSWORD,
      });
      const loginForm = await formOf(app.url, '/login');
      // An account signed in from many places ("Your sessions" lists them), ten sign-ins at a time.
      for (let made = 0; made < SESSIONS; made += 10)
        await Promise.all(
          Array.from({ length: Math.min(10, SESSIONS - made) }, () =>
            submit(app.url, '/login', loginForm, { email, password: PASSWORD }),
          ),
        );
      servers.push({
        name: spec,
        ...app,
        database: new URL(database.url).pathname.slice(1),
        redisPrefix,
        routes: {
          login: { path: '/login' },
          account: { path: '/account', headers: { cookie } },
          healthz: { path: '/healthz' },
          protected: { path: '/api/auth/protected', headers: { authorization: bearer } },
          signin: {
            method: 'POST',
            path: '/login',
            headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginForm.cookies.join('; ') },
            body: new URLSearchParams({ email: signer, password: PASSWORD, _csrf: loginForm.token }).toString(),
          },
          code: async (count) =>
            posts('/login/2fa', await pendingCodeSteps(app.url, database.url, count, standIn!, PASSWORD)),
        },
      });
    }
    if (process.env.CPU_BARE) {
      const database = await createTestDatabase();
      drops.push(() => database.drop());
      const redisPrefix = `cpu:bare:${randomBytes(3).toString('hex')}:`;
      // The bare server reads the app's tables: apply them with an app's migrations.
      const app = await start(dirs[0]!.split('::')[0]!, 'src/server.ts', {
        NODE_ENV: 'test',
        DATABASE_URL: database.url,
        REDIS_URL,
        REDIS_PREFIX: redisPrefix,
        SESSION_SECRET: randomBytes(32).toString('base64url'),
      });
      const email = `cpu-${randomBytes(4).toString('hex')}@bench.example`;
      const signup = await formOf(app.url, '/signup');
      await submit(app.url, '/signup', signup, { email, password: PASSWORD, passwordConfirmation: PASSWORD });
      await app.stop();
      const bare = await start(
        dirs[0]!.split('::')[0]!,
        'bench/bare-server.ts',
        {
          DATABASE_URL: database.url,
          REDIS_URL,
          REDIS_PREFIX: redisPrefix,
        },
        process.env.CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/cpu-prof/bare'] : [],
      );
      const login = await formOf(bare.url, '/login');
      const signedIn = await submit(bare.url, '/login', login, { email, password: PASSWORD });
      servers.push({
        name: 'bare',
        ...bare,
        database: new URL(database.url).pathname.slice(1),
        redisPrefix,
        routes: {
          login: { path: '/login' },
          account: { path: '/account', headers: { cookie: [...login.cookies, ...cookiesOf(signedIn)].join('; ') } },
          healthz: { path: '/healthz' },
          signin: {
            method: 'POST',
            path: '/login',
            headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: login.cookies.join('; ') },
            body: new URLSearchParams({ email, password: PASSWORD, _csrf: login.token }).toString(),
          },
        },
      });
    }
    const stats = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await stats.connect();
    const statements = async (database: string) => {
      const { rows } = await stats.query<{ n: string }>(
        'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1',
        [database],
      );
      return Number(rows[0]?.n ?? 0);
    };
    const redisCalls = async () => {
      const info = await redis.info('commandstats');
      return [...info.matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    // Postgres' CPU for a server: its backends (the pool's connections) on its database.
    const postgresTicks = async (database: string) => {
      const { rows } = await stats.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [
        database,
      ]);
      let ticks = 0;
      for (const { pid } of rows) ticks += await cpuTicks(pid).catch(() => 0);
      return ticks;
    };
    const redisPid = Number((await redis.info('server')).match(/process_id:(\d+)/)?.[1]);
    const requestOf = async (server: Server, route: string, count: number) => {
      const req = server.routes[route];
      return typeof req === 'function' ? req(count) : req;
    };
    const results = new Map<string, number[][]>();
    for (const route of routeNames) {
      // Warm up each server on the route (JIT, pools) before measuring.
      for (const server of servers) {
        const amount = Math.min(1000, REQUESTS);
        const req = await requestOf(server, route, amount);
        if (req) await autocannon({ url: server.url, connections: CONNECTIONS, amount, requests: [req], timeout: 30 });
      }
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const server of servers) {
          const req = await requestOf(server, route, REQUESTS);
          if (!req) continue;
          await new Promise((resolve) => setTimeout(resolve, 700)); // pg_stat lags a little
          const [cpu0, pg0, r0] = [await cpuTicks(server.pid), await statements(server.database), await redisCalls()];
          const [pgCpu0, redisCpu0] = [await postgresTicks(server.database), await cpuTicks(redisPid)];
          const result = await autocannon({
            url: server.url,
            connections: CONNECTIONS,
            amount: REQUESTS,
            requests: [req],
            timeout: 30,
          });
          await new Promise((resolve) => setTimeout(resolve, 700));
          const [cpu1, pg1, r1] = [await cpuTicks(server.pid), await statements(server.database), await redisCalls()];
          const [pgCpu1, redisCpu1] = [await postgresTicks(server.database), await cpuTicks(redisPid)];
          const non2xx = result.non2xx;
          const row = [
            ((cpu1 - cpu0) * 10_000) / REQUESTS, // µs of CPU per request
            result.requests.average,
            result.latency.p99,
            (pg1 - pg0) / REQUESTS,
            (r1 - r0 - 2) / REQUESTS,
            non2xx,
            ((pgCpu1 - pgCpu0) * 10_000) / REQUESTS,
            ((redisCpu1 - redisCpu0) * 10_000) / REQUESTS,
          ];
          const key = `${route} ${server.name}`;
          results.set(key, [...(results.get(key) ?? []), row]);
          console.log(
            `${key}: ${row[0]!.toFixed(0)} µs CPU/req, ${row[1]!.toFixed(0)} req/s, p99 ${row[2]} ms, ` +
              `pg ${row[3]!.toFixed(2)}/req, redis ${row[4]!.toFixed(2)}/req${non2xx ? `, ${non2xx} non-2xx` : ''}` +
              `, postgres CPU ${row[6]!.toFixed(0)} µs, redis CPU ${row[7]!.toFixed(0)} µs`,
          );
        }
      }
    }
    console.log('\nmedians:');
    for (const [key, rows] of results) {
      const median = (i: number) => rows.map((r) => r[i]!).sort((a, b) => a - b)[Math.floor(rows.length / 2)]!;
      console.log(
        `${key}: ${median(0).toFixed(0)} µs CPU/req, ${median(1).toFixed(0)} req/s, p99 ${median(2)} ms, pg ${median(3).toFixed(2)}, redis ${median(4).toFixed(2)}, postgres CPU ${median(6).toFixed(0)} µs, redis CPU ${median(7).toFixed(0)} µs`,
      );
    }
    await stats.end();
  } finally {
    for (const server of servers) await server.stop();
    for (const drop of drops) await drop();
    await standIn?.stop();
    await redis.quit();
  }
}

await main();
