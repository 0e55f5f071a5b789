// The bare baseline `npm run bench` measures the app against: Express 5, express-session on
// connect-redis, EJS and a signed double-submit CSRF token, doing the work each measured route
// of the app does and nothing else (no validation, limits, audit trail, security headers or
// request log). It reads the app's own tables with plain `pg`.
//   GET /login     a form with a CSRF token, no session written (as the app)
//   POST /login    the user by email, argon2id verification, a new session in Redis, 303
//   GET /account   the session from Redis, the user and the recent sign-ins (two queries)
//   GET /healthz   a JSON answer
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import argon2 from 'argon2';
import { RedisStore } from 'connect-redis';
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import ejs from 'ejs';
import express from 'express';
import session from 'express-session';
import pg from 'pg';
import { createClient } from 'redis';

const SECRET = process.env.SESSION_SECRET ?? 'bench-bare-server-secret-0123456789abcdef';
const views = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bare-views');

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const redis = createClient({ url: process.env.REDIS_URL });
await redis.connect();

declare module 'express-session' {
  interface SessionData {
    userId?: string;
  }
}

const { doubleCsrfProtection, generateCsrfToken } = doubleCsrf({
  getSecret: () => SECRET,
  getSessionIdentifier: (req) => {
    const sid = (req.signedCookies as Record<string, unknown>)['bare.sid'];
    return typeof sid === 'string' ? sid : '';
  },
  cookieName: 'bare.csrf',
  cookieOptions: { sameSite: 'lax', secure: false, httpOnly: true, path: '/' },
  getCsrfTokenFromRequest: (req) => (req.body as Record<string, string | undefined>)._csrf,
});

const app = express();
app.disable('x-powered-by');
app.set('views', views);
app.enable('view cache');
app.engine('ejs', (file: string, options: object, callback: (error: Error | null, html?: string) => void) => {
  ejs.renderFile(file, options, (error, body) => {
    if (error) return callback(error);
    ejs.renderFile(path.join(views, 'layout.ejs'), { ...options, body }, callback);
  });
});
app.set('view engine', 'ejs');

app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
app.use(express.urlencoded({ extended: false }));
app.use(cookieParser(SECRET));
app.use(
  session({
    name: 'bare.sid',
    secret: SECRET,
    store: new RedisStore({ client: redis, prefix: `${process.env.REDIS_PREFIX ?? 'bench:bare:'}sess:` }),
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, sameSite: 'lax', maxAge: 30 * 60_000 },
  }),
);
app.use(doubleCsrfProtection);

app.get('/login', (req, res) => res.render('login', { title: 'Sign in', csrfToken: generateCsrfToken(req, res) }));

app.post('/login', async (req, res, next) => {
  try {
    const { email, password } = req.body as Record<string, string>;
    const { rows } = await pool.query<{ id: string; password_hash: string }>(
      'SELECT id, password_hash FROM users WHERE email = $1',
      [email],
    );
    const user = rows[0];
    if (!user || !(await argon2.verify(user.password_hash, password ?? ''))) return void res.status(401).end();
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.userId = user.id;
      req.session.save((saveError) => (saveError ? next(saveError) : res.redirect(303, '/account')));
    });
  } catch (error) {
    next(error);
  }
});

app.get('/account', async (req, res, next) => {
  try {
    if (!req.session.userId) return res.redirect(303, '/login');
    const { rows: users } = await pool.query<{ email: string }>('SELECT * FROM users WHERE id = $1', [
      req.session.userId,
    ]);
    const { rows: activity } = await pool.query(
      `SELECT at, type, ip, user_agent FROM audit_events WHERE user_id = $1 AND type IN ('sign_in', 'sign_in_password')
       ORDER BY at DESC LIMIT 10`,
      [req.session.userId],
    );
    res.render('account', {
      title: 'Your account',
      email: users[0]?.email,
      activity,
      csrfToken: generateCsrfToken(req, res),
    });
  } catch (error) {
    next(error);
  }
});

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ listening: typeof address === 'object' && address ? address.port : 0 }));
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close();
    void Promise.allSettled([pool.end(), redis.quit()]).then(() => process.exit(0));
  });
}
