// The composition root: builds the domain (repositories, services, code senders) once, from
// the configuration and the opened services. The web app, the CLIs and the coming JSON API all
// take what they need from here, so each feature is wired one way only.
import {
  accountDeletion,
  accountsRepository,
  accountsService,
  emailTokensRepository,
  forgetRememberedBrowsersOf,
  rememberedBrowsers,
  securityNotices,
  selfService,
  signInLimits,
  userSessions,
  userSessionsRepository,
} from './accounts/index.js';
import { adminRepository, adminService } from './admin/index.js';
import { auditLog } from './audit/index.js';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Config, TokenKey } from './config.js';
import type { Database } from './core/db/client.js';
import type { Logger } from './core/logger.js';
import type { Metrics } from './core/metrics.js';
import type { Mail } from './mail/index.js';
import { limitFactory } from './core/rate-limits.js';
import type { Redis } from './core/redis.js';
import { developmentKey, ephemeralKey, secretBox, type SecretBox } from './core/secret-box.js';
import {
  codeLimits,
  createCodeSenders,
  maskPhone,
  factorRegistry,
  factorsRepository,
  factorsService,
  localTotpBackend,
  PASSKEY_CHALLENGE_MS,
  passkeyFactor,
  passkeysRepository,
  phoneFactor,
  recoveryCodesFactor,
  recoveryCodesRepository,
  resendCooldown,
  totpFactor,
  TwilioTotpBackend,
} from './factors/index.js';
import { phoneVerificationService, phoneVerificationsRepository } from './phone-verification/index.js';
import { mfaSessionsRepository, signedInRepository, signInService } from './sign-in/index.js';
import { refreshTokens, tokenGrants, tokenService, tokensRepository } from './tokens/index.js';

export interface DomainDeps {
  config: Config;
  logger: Logger;
  database: Database;
  /** Undefined without REDIS_URL: limits then live in this process. */
  redis: Redis | undefined;
  /** Counted into, when the app serves metrics. */
  metrics?: Metrics;
  /** Queues mail in the transaction of the change it tells of. */
  mail: Pick<Mail, 'send'>;
}

/**
 * The box authenticator-app secrets are sealed in: the configured keys; in development without
 * them, a key kept beside the embedded database (made on first start); otherwise (tests, an
 * in-memory database) a key for this process only.
 */
function totpSecretBox(config: Config, logger: Logger): SecretBox {
  if (config.totp.keys) return secretBox(config.totp.keys);
  if (config.totp.devKeyFile) {
    const { key, created } = developmentKey(config.totp.devKeyFile);
    logger.warn(
      { file: config.totp.devKeyFile, created },
      'TOTP_ENCRYPTION_KEYS is not set: authenticator-app secrets are encrypted with a development key kept in this file (production refuses to start without TOTP_ENCRYPTION_KEYS)',
    );
    return secretBox([key]);
  }
  if (config.env === 'development')
    logger.warn('TOTP_ENCRYPTION_KEYS is not set: authenticator apps set up now stop working at restart');
  return secretBox([ephemeralKey()]);
}

/**
 * The keys API access tokens are signed with: the configured ones; otherwise (development,
 * tests) a key made now, so tokens issued before a restart are no longer accepted after it.
 */
function apiTokenKeys(config: Config, logger: Logger): TokenKey[] {
  if (config.api.tokenKeys) return config.api.tokenKeys;
  if (config.env === 'development')
    logger.warn('API_TOKEN_KEYS is not set: API tokens are signed with a key made at start, good until restart');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return [{ kid: `ephemeral-${randomBytes(4).toString('hex')}`, privateKey }];
}

export function composeDomain({ config, logger, database, redis, metrics, mail }: DomainDeps) {
  const { prisma, inTransaction } = database;
  const users = accountsRepository(database);
  const sendMail = mail.send.bind(mail);
  const notices = securityNotices({
    users,
    sendMail,
    signInsFromBrowser: (...args) => audit.signInsFromBrowser(...args),
  });
  // A deleted account's events are named by an HMAC of its id under the session secret.
  const audit = auditLog(database, (entry) => metrics?.countEvent(entry), config.session.secrets[0], notices);
  const limit = limitFactory(redis?.client, config.redisPrefix, config.session.secrets[0]);
  const emailTokens = emailTokensRepository(prisma);
  const selfServe = selfService({
    users,
    tokens: emailTokens,
    audit,
    inTransaction,
    limit,
    limits: config.limits,
    sendMail,
    // Asked at run time, once the factors below are built.
    hasSecondFactor: async (userId) => factors.isTwoFactorOn(await factors.list(userId)),
  });
  const attemptLimits = signInLimits(limit, config.limits, logger);
  const accounts = accountsService(users, audit, attemptLimits, inTransaction, {
    tokens: emailTokens,
    sendVerification: selfServe.sendVerification,
  });

  const sessions = userSessions({
    repository: userSessionsRepository(database),
    audit,
    inTransaction,
    lifetime: config.session,
  });

  const timeTwilio = metrics?.timeTwilio;
  const senders = createCodeSenders(config.twoFactor, logger, timeTwilio);
  const sender = senders.pages;
  const factorRows = factorsRepository(database);
  // One wrong-code limit for every code factor: a guess is a guess, whichever page it is typed on.
  const limits = codeLimits(limit, config.limits);
  // Backup kinds (recovery codes) are not 2FA; asked of the registry once it is built.
  const isBackup = (factor: { kind: string }) => registry.isBackup(factor);
  const phoneDeps = {
    sender,
    repository: factorRows,
    inTransaction,
    audit,
    cooldown: resendCooldown(limit, config.twoFactor.resendCooldownMs),
    allowedCountries: config.twoFactor.allowedCountries,
    resendCooldownMs: config.twoFactor.resendCooldownMs,
    isBackup,
  };
  const phone = phoneFactor({ ...phoneDeps, limits });
  const box = totpSecretBox(config, logger);
  const totpBackends = {
    local: localTotpBackend({ box, issuer: config.totp.issuer }),
    twilio: config.twoFactor.twilio
      ? new TwilioTotpBackend(config.twoFactor.twilio, logger, { issuer: config.totp.issuer, timed: timeTwilio })
      : undefined,
  };
  const totp = totpFactor({
    backend: (config.totp.provider === 'twilio' && totpBackends.twilio) || totpBackends.local,
    backends: totpBackends,
    repository: factorRows,
    inTransaction,
    audit,
    limits,
    box,
    isBackup,
  });
  const recoveryCodes = recoveryCodesFactor({
    factors: factorRows,
    codes: recoveryCodesRepository(database),
    inTransaction,
    audit,
    limits,
  });
  const passkey = passkeyFactor({
    factors: factorRows,
    passkeys: passkeysRepository(database),
    inTransaction,
    audit,
    limits,
    // One point per challenge, for as long as it lives: a second answer to it is a replay.
    challengesUsed: limit({ name: 'passkey_challenges', points: 1, durationSec: PASSKEY_CHALLENGE_MS / 1000 }),
    rpId: config.passkeys.rpId,
    rpName: config.passkeys.rpName,
    origins: config.passkeys.origins,
    isBackup,
    // Asked at run time, once the factors service below is built.
    removeFactorIn: (...args) => factors.removeOneIn(...args),
  });
  const registry = factorRegistry({ phone, totp, passkey, recovery_codes: recoveryCodes });
  const factors = factorsService({
    repository: factorRows,
    registry,
    audit,
    inTransaction,
    twoFactorOff: forgetRememberedBrowsersOf,
    sessionHolds: (session, tx) => users.sessionHolds(session, tx),
  });
  const remembered = rememberedBrowsers({ database, audit, inTransaction });
  const deletion = accountDeletion({ users, factors, audit, inTransaction });
  const signIn = signInService({
    accounts,
    sessions,
    signedIn: signedInRepository(database),
    factors,
    registry,
    audit,
    passkeys: passkey,
    limits: attemptLimits,
    remembered,
    pendingLifetimeMs: config.twoFactor.pendingLifetimeMs,
  });

  const admin = adminService({
    repository: adminRepository(prisma),
    accounts,
    factors,
    audit,
    inTransaction,
    sender,
    // The admin test bench has limits of its own, so testing never eats a user's budget.
    codeLimits: codeLimits(limit, config.limits, 'admin_'),
  });

  const tokens = tokenService({
    keys: apiTokenKeys(config, logger),
    issuer: config.api.issuer,
    audience: config.api.audience,
    repository: tokensRepository(database),
    audit,
  });
  const phoneVerification = phoneVerificationService({
    // The open verification API sends through verifications and on a code budget of its own:
    // a stranger verifying a number must not touch or use up the codes its owner signs in with.
    phone: phoneFactor({ ...phoneDeps, sender: senders.api, limits: codeLimits(limit, config.limits, 'api_') }),
    repository: phoneVerificationsRepository(prisma),
    audit,
    limit,
    tokens,
    tokenLifetimeMs: config.api.phoneTokenMs,
    perMinute: config.api.requestsPerMinute,
  });

  const grants = tokenGrants({
    signIn,
    mfaSessions: mfaSessionsRepository(prisma),
    access: tokens,
    refresh: refreshTokens({ database, inTransaction, lifetimeMs: config.api.refreshTokenMs }),
    audit,
    accessLifetimeMs: config.api.accessTokenMs,
    mfaLifetimeMs: config.twoFactor.pendingLifetimeMs,
    maskPhone,
    requireVerifiedEmail: config.requireVerifiedEmail,
  });

  return {
    audit,
    accounts,
    selfService: selfServe,
    sessions,
    remembered,
    deletion,
    sender,
    phone,
    totp,
    passkey,
    recoveryCodes,
    registry,
    factors,
    signIn,
    admin,
    tokens,
    grants,
    phoneVerification,
  };
}

export type Domain = ReturnType<typeof composeDomain>;
