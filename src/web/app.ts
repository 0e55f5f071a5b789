// createApp wires middleware and the page routers around the domain (src/compose.ts) and the
// services opened elsewhere. It does no I/O, so tests build the very app production runs, on
// their own databases.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cookieParser from 'cookie-parser';
import express, { type Express, type RequestHandler } from 'express';
import { apiRouter, jwksRouter } from '../api/index.js';
import type { Config } from '../config.js';
import { composeDomain, type Domain } from '../compose.js';
import type { Logger } from '../core/logger.js';
import { createMetrics } from '../core/metrics.js';
import type { Services } from '../core/services.js';
import { enforceAbsoluteLifetime, sessions } from '../core/sessions.js';
import { ConsoleSender } from '../factors/index.js';
import { accountDeletionRouter } from './account-deletion.js';
import { accountsRouter } from './accounts.js';
import { staticAssets } from './assets.js';
import { adminRouter } from './admin.js';
import { codeStepPages, phoneSignInStep, totpSignInStep } from './code-step.js';
import { devOutboxRouter } from './dev-outbox.js';
import { errorHandler, notFound } from './errors.js';
import { metricsRouter } from './metrics.js';
import { healthRouter } from './health.js';
import { createPassport, passportMiddleware } from './passport.js';
import { passwordConfirmationRouter, requireRecentPassword } from './password-confirmation.js';
import { passkeySignInStep, passkeysRouter } from './passkeys.js';
import { phoneRouter } from './phone.js';
import { recoveryCodesAfterEnrolment, recoveryCodesRouter } from './recovery-codes.js';
import { useRequestLog } from './request-log.js';
import { csrfProtection, securityHeaders } from './security.js';
import { requireVerifiedEmail } from './guards.js';
import { holdsSignIn } from './session.js';
import { selfServiceRouter } from './self-service.js';
import { signInRouter } from './sign-in.js';
import { totpRouter } from './totp.js';
import { flashMessages, useViews, viewLocals } from './views.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const FORM_BODY_LIMIT = '16kb';
/** The pages that add a second factor (REQUIRE_VERIFIED_EMAIL keeps unverified accounts out of them). */
const ENROLMENT_PAGES = ['/account/2fa', '/account/2fa/verify', '/account/totp', '/account/passkeys/new'];

export interface AppDeps {
  config: Config;
  logger: Logger;
  services: Pick<Services, 'database' | 'sessions' | 'redis' | 'mail'>;
  /** The domain to serve; built from `services` when not given. */
  domain?: Domain;
}

/**
 * cookie-parser reads a `j:` value as JSON; every cookie here is a string, and express-session
 * or csrf-csrf given an object instead would fail with a 500 on every page until the cookie
 * went away (a cookie planted to lock someone out). Such values are dropped.
 */
const stringCookiesOnly: RequestHandler = (req, _res, next) => {
  for (const jar of [req.cookies, req.signedCookies] as Array<Record<string, unknown> | undefined>) {
    for (const [name, value] of Object.entries(jar ?? {})) if (typeof value !== 'string') delete jar![name];
  }
  next();
};

export function createApp({ config, logger, services, domain: given }: AppDeps): Express {
  const metrics = createMetrics();
  const domain =
    given ??
    composeDomain({
      config,
      logger,
      database: services.database,
      redis: services.redis,
      metrics,
      mail: services.mail,
    });
  const app = express();
  app.set('env', config.env);
  app.disable('x-powered-by');
  // No ETag on what the app sends itself: its pages carry a fresh form token or challenge, and
  // private ones are no-store, so a tag never matches; hashing each answer for one cost about
  // 2 % of a page's CPU (bench/findings.md). Static files keep theirs (express.static's own).
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  useViews(app, path.join(root, 'views'));
  app.locals.supportContact = config.supportContact;

  app.use(securityHeaders({ isProduction: config.isProduction }));
  // Static files and the probes come first: they need no request log line, body, cookie or session.
  const assets = staticAssets(
    [
      { prefix: '', dir: path.join(root, 'public') },
      // The phone field's country picker, served from the installed package: no CDN.
      { prefix: '/vendor/intl-tel-input', dir: path.join(root, 'node_modules/intl-tel-input/dist') },
      // WebAuthn in the browser (passkeys): SimpleWebAuthn's browser bundle, from the package too.
      { prefix: '/vendor/simplewebauthn', dir: path.join(root, 'node_modules/@simplewebauthn/browser/dist/bundle') },
    ],
    { plainMaxAge: config.isProduction ? '1h' : 0 },
  );
  app.locals.asset = assets.url;
  app.use(assets.middleware);
  app.use(
    healthRouter(
      {
        database: () => services.database.check(),
        sessions: () => services.sessions.check(),
      },
      logger,
    ),
  );
  app.use(metricsRouter({ metrics, token: config.metrics.token, open: config.metrics.open }));
  app.use(metrics.requestTimer);
  useRequestLog(app, logger);

  // The JSON API and its public keys: before the pages' sessions, CSRF and form parsing.
  app.use('/api', apiRouter({ domain, corsOrigins: config.api.corsOrigins }));
  app.use(jwksRouter({ tokens: domain.tokens }));

  app.use(express.urlencoded({ extended: false, limit: FORM_BODY_LIMIT, parameterLimit: 50 }));
  const cookies = { secrets: config.session.secrets, secure: config.session.secureCookie };
  app.use(cookieParser(cookies.secrets), stringCookiesOnly);
  app.use(
    sessions(
      {
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
      },
      holdsSignIn,
    ),
  );
  app.use(enforceAbsoluteLifetime(config.session));

  app.use(passportMiddleware(createPassport(domain.signIn)));
  app.use(flashMessages(cookies));
  app.use(csrfProtection(cookies));
  app.use(viewLocals);

  const lifetime = config.session;
  const recentPassword = requireRecentPassword(config.session.passwordConfirmationMs);
  const outbox = config.twoFactor.devOutbox && domain.sender instanceof ConsoleSender ? domain.sender : undefined;
  const codeStep = codeStepPages({ phone: domain.phone, devOutbox: outbox !== undefined });

  app.get('/', (_req, res) => res.render('home', { title: 'Home' }));
  app.use(
    signInRouter({
      signIn: domain.signIn,
      sessions: domain.sessions,
      steps: { phone: phoneSignInStep(codeStep), totp: totpSignInStep(), passkey: passkeySignInStep() },
      lifetime,
      recoveryCodes: domain.recoveryCodes,
    }),
  );
  app.use(
    accountsRouter({
      accounts: domain.accounts,
      factors: domain.factors,
      signIn: domain.signIn,
      sessions: domain.sessions,
      remembered: domain.remembered,
      apiSignIns: domain.grants,
      lifetime,
      requireRecentPassword: recentPassword,
      recoveryCodes: domain.recoveryCodes,
      passkeys: domain.passkey,
    }),
  );
  app.use(
    selfServiceRouter({
      accounts: domain.accounts,
      selfService: domain.selfService,
      signIn: domain.signIn,
      lifetime,
      sessions: domain.sessions,
      requireRecentPassword: recentPassword,
      factorPassedForMs: config.twoFactor.pendingLifetimeMs,
    }),
  );
  if (config.requireVerifiedEmail) app.all(ENROLMENT_PAGES, requireVerifiedEmail);
  app.use(accountDeletionRouter({ deletion: domain.deletion, requireRecentPassword: recentPassword }));
  app.use(passwordConfirmationRouter({ accounts: domain.accounts, maxAgeMs: config.session.passwordConfirmationMs }));
  app.use(
    phoneRouter({
      phone: domain.phone,
      codeStep,
      enrolmentLifetimeMs: config.twoFactor.pendingLifetimeMs,
      requireRecentPassword: recentPassword,
      defaultCountry: config.twoFactor.defaultCountry,
      afterEnrolment: recoveryCodesAfterEnrolment(domain.recoveryCodes),
    }),
  );
  if (!config.isProduction) app.use(devOutboxRouter({ codes: outbox, mail: services.mail.devOutbox }));
  app.use(recoveryCodesRouter({ recoveryCodes: domain.recoveryCodes, requireRecentPassword: recentPassword }));
  app.use(
    totpRouter({
      totp: domain.totp,
      factors: domain.factors,
      enrolmentLifetimeMs: config.twoFactor.pendingLifetimeMs,
      requireRecentPassword: recentPassword,
      afterEnrolment: recoveryCodesAfterEnrolment(domain.recoveryCodes),
    }),
  );
  app.use(
    passkeysRouter({
      passkey: domain.passkey,
      requireRecentPassword: recentPassword,
      afterEnrolment: recoveryCodesAfterEnrolment(domain.recoveryCodes),
    }),
  );
  app.use(
    adminRouter({
      admin: domain.admin,
      requireRecentPassword: recentPassword,
      requireTwoFactor: config.adminRequiresTwoFactor,
      defaultCountry: config.twoFactor.defaultCountry,
    }),
  );

  app.use(notFound);
  app.use(errorHandler({ showDetails: config.env === 'development' }));
  return app;
}
