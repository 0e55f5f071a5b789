// createApp wires middleware and feature routers around services opened elsewhere. It does
// no I/O, so tests build the very app production runs, on their own databases.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express, type RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import { accountsRepository } from '../accounts/repository.js';
import { adminRepository } from '../admin/repository.js';
import { adminRouter } from './admin.js';
import { adminService } from '../admin/service.js';
import { accountsService } from '../accounts/service.js';
import { signInLimits } from '../accounts/sign-in-limits.js';
import { auditLog } from '../audit/audit-log.js';
import { createPassport } from './passport.js';
import { passwordConfirmationRouter, requireRecentPassword } from './password-confirmation.js';
import { accountsRouter } from './accounts.js';
import type { Config } from '../config.js';
import { errorHandler, notFound } from '../core/errors.js';
import { healthRouter } from './health.js';
import { limitFactory } from '../core/rate-limits.js';
import type { Logger } from '../core/logger.js';
import { csrfProtection, securityHeaders } from './security.js';
import type { Services } from '../core/services.js';
import { enforceAbsoluteLifetime, sessions } from '../core/sessions.js';
import { useViews, viewLocals } from './views.js';
import { codeLimits, resendCooldown } from '../factors/phone/code-limits.js';
import { createCodeSender } from '../factors/phone/senders/index.js';
import { ConsoleSender } from '../factors/phone/senders/console.js';
import { twoFactorRepository } from '../factors/repository.js';
import { twoFactorRouter } from './phone.js';
import { twoFactorService } from '../factors/phone/service.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const FORM_BODY_LIMIT = '16kb';
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface AppDeps {
  config: Config;
  logger: Logger;
  services: Pick<Services, 'database' | 'sessions' | 'redis'>;
}

function requestLogger(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    genReqId: (req, res) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : 'info'),
    // Method, path and client only: no headers (cookies, tokens) and no query string (a
    // `next` or a search can carry an email address or anything else a person typed).
    serializers: {
      req: (req: { id: string; method: string; url: string; remoteAddress?: string; raw?: { ip?: string } }) => ({
        id: req.id,
        method: req.method,
        url: req.url.split('?')[0],
        ip: req.raw?.ip ?? req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}

export function createApp({ config, logger, services }: AppDeps): Express {
  const app = express();
  app.set('env', config.env);
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  useViews(app, path.join(root, 'views'));
  app.locals.supportContact = config.supportContact;

  app.use(requestLogger(logger));
  app.use(securityHeaders({ isProduction: config.isProduction }));
  const staticOptions = { index: false, maxAge: config.isProduction ? '1h' : 0 };
  app.use(express.static(path.join(root, 'public'), staticOptions));
  // The phone field's country picker, served from the installed package: no CDN.
  app.use('/vendor/intl-tel-input', express.static(path.join(root, 'node_modules/intl-tel-input/dist'), staticOptions));
  app.use(
    healthRouter({
      database: () => services.database.check(),
      sessions: () => services.sessions.check(),
    }),
  );

  app.use(express.urlencoded({ extended: false, limit: FORM_BODY_LIMIT, parameterLimit: 50 }));
  app.use(
    sessions({
      name: config.session.cookieName,
      secret: config.session.secrets,
      store: services.sessions.store,
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: {
        httpOnly: true,
        sameSite: 'lax',
        secure: config.session.secureCookie,
        maxAge: config.session.idleTimeoutMs,
      },
    }),
  );
  app.use(enforceAbsoluteLifetime(config.session));

  const audit = auditLog(services.database.prisma);
  const limit = limitFactory(services.redis?.client, config.redisPrefix);
  const accounts = accountsService(
    accountsRepository(services.database.prisma),
    audit,
    signInLimits(limit, config.limits, logger),
    services.database.inTransaction,
  );
  const passport = createPassport(accounts);
  app.use(passport.initialize());
  app.use(passport.session());
  app.use(csrfProtection);
  app.use(viewLocals);

  const provider = createCodeSender(config.twoFactor, logger);
  const userCodeLimits = codeLimits(limit, config.limits);
  // The admin test bench has limits of its own, so testing never eats a user's budget.
  const adminCodeLimits = codeLimits(limit, config.limits, 'admin_');
  const twoFactor = twoFactorService({
    provider,
    repository: twoFactorRepository(services.database.prisma),
    inTransaction: services.database.inTransaction,
    audit,
    limits: userCodeLimits,
    cooldown: resendCooldown(limit, config.twoFactor.resendCooldownMs),
    allowedCountries: config.twoFactor.allowedCountries,
    resendCooldownMs: config.twoFactor.resendCooldownMs,
    pendingLifetimeMs: config.twoFactor.pendingLifetimeMs,
  });
  const finish = { accounts, lifetime: config.session };
  const recentPassword = requireRecentPassword(config.session.passwordConfirmationMs);
  const twoFactorPages = twoFactorRouter({
    twoFactor,
    accounts,
    finish,
    requireRecentPassword: recentPassword,
    defaultCountry: config.twoFactor.defaultCountry,
    outbox: config.twoFactor.devOutbox && provider instanceof ConsoleSender ? provider : undefined,
  });

  const admin = adminService({
    repository: adminRepository(services.database.prisma),
    audit,
    inTransaction: services.database.inTransaction,
    provider,
    codeLimits: adminCodeLimits,
  });

  app.get('/', (_req, res) => res.render('home', { title: 'Home' }));
  app.use(accountsRouter({ accounts, passport, finish, secondFactor: twoFactorPages.secondFactor }));
  app.use(passwordConfirmationRouter({ accounts, maxAgeMs: config.session.passwordConfirmationMs }));
  app.use(twoFactorPages.router);
  app.use(adminRouter({ admin, requireRecentPassword: recentPassword, requireTwoFactor: config.adminRequiresTwoFactor, defaultCountry: config.twoFactor.defaultCountry }));

  app.use(notFound);
  app.use(errorHandler({ showDetails: config.env === 'development' }));
  return app;
}
