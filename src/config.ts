// Configuration: read from the environment once, validated, typed. A wrong value stops
// start-up with a message naming the variable; production refuses settings that are only
// safe on a developer's machine.
import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { isSupportedCountry } from 'libphonenumber-js/max';
import { z } from 'zod';
import { parseNamedKeys } from './core/named-keys.js';
import { parseSecretKeys, SECRET_KEY_BYTES, type SecretKey } from './core/secret-box.js';

const DEFAULT_SECRET_MARKERS = ['change-me', 'changeme', 'secret', 'replace-me', 'example'];
const MIN_SECRET_LENGTH = 32;

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((value) => ['true', '1', 'yes'].includes(value));

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .trim()
    .optional()
    .transform((value) => (value ? value : undefined))
    .refine(
      (value) => {
        if (value === undefined) return true;
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
    );

// `trust proxy` accepts a hop count, true/false, or a list of addresses and subnets
// (https://expressjs.com/en/guide/behind-proxies.html).
const trustProxy = z
  .string()
  .trim()
  .default('false')
  .transform((value): boolean | number | string[] => {
    if (value === 'true') return true;
    if (value === 'false' || value === '') return false;
    if (/^\d+$/.test(value)) return Number(value);
    return value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
  });

/** A comma-separated list of web origins (https://app.example.com), each exactly an origin. */
const originList = () =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      const origins = (value ?? '')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean);
      for (const origin of origins) {
        let parsed: URL | undefined;
        try {
          parsed = new URL(origin);
        } catch {
          parsed = undefined;
        }
        if (!parsed || !['https:', 'http:'].includes(parsed.protocol) || parsed.origin !== origin)
          context.addIssue({ code: 'custom', message: `${origin} is not an origin such as https://app.example.com` });
      }
      return origins;
    });

/** A WebAuthn relying party ID: a host name (no scheme, port or path), never an IP address. */
const rpId = z
  .string()
  .trim()
  .toLowerCase()
  .optional()
  .transform((value) => (value ? value : undefined))
  .refine(
    (value) =>
      value === undefined ||
      (/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(value) &&
        !/^[0-9.]+$/.test(value)),
    'must be a host name such as example.com (no scheme, port or path; not an IP address)',
  );

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HTTP_KEEP_ALIVE_SECONDS: z.coerce.number().int().min(1).max(600).default(5),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  METRICS_TOKEN: z.string().trim().min(32, 'must be at least 32 characters').optional(),
  TRUST_PROXY: trustProxy,

  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:']),
  DATABASE_POOL_SIZE: positiveInt(10),
  PGLITE_DATA_DIR: z.string().trim().min(1).default('./data/pglite'),
  PGLITE_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  MIGRATE_ON_START: flag.default(true),
  DATABASE_PREPARED_STATEMENTS: flag.default(true),

  REDIS_URL: optionalUrl(['redis:', 'rediss:']),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{0,64}$/, 'may contain only letters, digits and : _ . -')
    .default('tfa:'),
  ALLOW_EMBEDDED_STORES_IN_PRODUCTION: flag.default(false),

  SESSION_SECRET: z.string().optional(),
  SESSION_PREVIOUS_SECRETS: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  SESSION_COOKIE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'may contain only letters, digits, "_", "." and "-"')
    .optional(),
  SESSION_IDLE_MINUTES: positiveInt(30),
  SESSION_ABSOLUTE_HOURS: positiveInt(12),
  REMEMBER_ME_DAYS: positiveInt(30),
  PASSWORD_CONFIRMATION_MINUTES: positiveInt(5),

  CODE_PROVIDER: z.enum(['console', 'twilio']).optional(),
  TWILIO_ACCOUNT_SID: z
    .string()
    .trim()
    .regex(/^AC[0-9a-fA-F]{32}$/, 'must look like AC followed by 32 hex digits')
    .optional(),
  TWILIO_AUTH_TOKEN: z.string().trim().min(1).optional(),
  TWILIO_API_KEY_SID: z
    .string()
    .trim()
    .regex(/^SK[0-9a-fA-F]{32}$/, 'must look like SK followed by 32 hex digits')
    .optional(),
  TWILIO_API_KEY_SECRET: z.string().trim().min(1).optional(),
  TWILIO_VERIFY_SERVICE_SID: z
    .string()
    .trim()
    .regex(/^VA[0-9a-fA-F]{32}$/, 'must look like VA followed by 32 hex digits')
    .optional(),
  TWILIO_API_VERIFY_SERVICE_SID: z
    .string()
    .trim()
    .regex(/^VA[0-9a-fA-F]{32}$/, 'must look like VA followed by 32 hex digits')
    .optional(),
  TWILIO_TIMEOUT_MS: positiveInt(10_000),
  TWILIO_API_BASE_URL: optionalUrl(['http:', 'https:']),
  DEFAULT_PHONE_COUNTRY: z
    .string()
    .trim()
    .toUpperCase()
    .regex(/^[A-Z]{2}$/, 'must be a two-letter country code such as US or FR')
    .refine(isSupportedCountry, 'is not a country phone numbers are known for')
    .default('US'),
  CODE_RESEND_SECONDS: positiveInt(30),
  SECOND_FACTOR_MINUTES: positiveInt(10),

  CODE_COUNTRIES: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((code) => code.trim().toUpperCase())
        .filter(Boolean),
    )
    .refine(
      (codes) => codes.every((code) => isSupportedCountry(code)),
      'must be two-letter country codes such as US,FR',
    ),
  LIMIT_SIGN_INS_PER_IP: positiveInt(50),
  LIMIT_SIGN_IN_LOCK_AFTER: positiveInt(5),
  LIMIT_SIGN_IN_MAX_LOCK_MINUTES: positiveInt(15),
  LIMIT_SIGN_UPS_PER_IP: positiveInt(10),
  LIMIT_CODES_PER_10_MINUTES: positiveInt(5),
  LIMIT_CODES_PER_DAY: positiveInt(10),
  LIMIT_CODES_PER_IP: positiveInt(20),
  LIMIT_WRONG_CODES_PER_USER: positiveInt(10),
  LIMIT_PASSWORD_RESETS_PER_IP: positiveInt(10),
  LIMIT_MAILS_PER_ACCOUNT: positiveInt(3),
  ALERT_FAILED_SIGN_INS_PER_MINUTE: positiveInt(30),
  ADMIN_REQUIRES_2FA: flag.optional(),
  TOTP_ENCRYPTION_KEYS: keyList(parseSecretKeys),
  TOTP_ISSUER: z.string().trim().min(1).max(64).default('Two-factor sign-in'),
  TOTP_PROVIDER: z.enum(['local', 'twilio']).optional(),
  API_TOKEN_KEYS: keyList(parseTokenKeys),
  API_TOKEN_ISSUER: z.string().trim().min(1).max(200).default('urn:two-factor-sign-in'),
  API_TOKEN_AUDIENCE: z.string().trim().min(1).max(200).default('urn:two-factor-sign-in:api'),
  API_ACCESS_TOKEN_MINUTES: positiveInt(15),
  API_PHONE_TOKEN_HOURS: positiveInt(24),
  API_REFRESH_TOKEN_DAYS: positiveInt(30),
  API_CORS_ORIGINS: originList(),
  LIMIT_API_PER_MINUTE: positiveInt(5),
  SMTP_URL: optionalUrl(['smtp:', 'smtps:']),
  MAIL_FROM: z.string().trim().min(3).max(320).optional(),
  PUBLIC_URL: optionalUrl(['https:', 'http:']),
  PASSKEY_RP_ID: rpId,
  PASSKEY_ORIGINS: originList(),
  REQUIRE_VERIFIED_EMAIL: flag.default(false),
  SUPPORT_CONTACT: z
    .string()
    .trim()
    .default('')
    .refine(
      (value) => value === '' || isEmailAddress(value) || isWebAddress(value),
      'must be an email address or a URL starting with https:// or http://',
    ),
});

type Env = z.infer<typeof schema>;

/** Every variable the app reads (.env.example lists each, with a comment). */
export const CONFIG_VARIABLES = Object.keys(schema.shape);

/** A key that signs API access tokens (ES256), named by its `kid`. */
export interface TokenKey {
  kid: string;
  privateKey: KeyObject;
}

/**
 * Reads "k2:<base64 PKCS#8 DER>,k1:<...>": P-256 private keys, the first signing, all published
 * (rotation). Returns the problem instead when one is not such a key or a kid repeats.
 */
function parseTokenKeys(value: string): { ok: true; keys: TokenKey[] } | { ok: false; problem: string } {
  const parsed = parseNamedKeys(value, {
    idPattern: /^[A-Za-z0-9_-]{1,64}$/,
    idRule: 'each key must be <kid>:<base64 PKCS#8 key>, kids of letters, digits, _ and -',
    read: (kid, text): KeyObject | { problem: string } => {
      let privateKey: KeyObject;
      try {
        privateKey = createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
      } catch {
        return { problem: `key ${kid} is not a PKCS#8 private key in base64` };
      }
      return privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1'
        ? privateKey
        : { problem: `key ${kid} must be an EC P-256 key (ES256)` };
    },
  });
  return parsed.ok ? { ok: true, keys: parsed.keys.map(({ id, key }) => ({ kid: id, privateKey: key })) } : parsed;
}

/** A list of named keys from the environment, read by `parse`; its problem names the variable. */
function keyList<Key>(parse: (value: string) => { ok: true; keys: Key[] } | { ok: false; problem: string }) {
  return z
    .string()
    .optional()
    .transform((value, context) => {
      if (!value?.trim()) return undefined;
      const parsed = parse(value);
      if (parsed.ok) return parsed.keys;
      context.addIssue({ code: 'custom', message: parsed.problem });
      return z.NEVER;
    });
}

/** Where people who lost their phone get help: shown on the code step and the account page. */
export type SupportContact = { kind: 'email'; address: string } | { kind: 'web'; url: string } | undefined;

function isEmailAddress(value: string): boolean {
  return z.email().safeParse(value).success;
}

function isWebAddress(value: string): boolean {
  try {
    return ['https:', 'http:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function supportContact(value: string): SupportContact {
  if (!value) return undefined;
  return isEmailAddress(value) ? { kind: 'email', address: value } : { kind: 'web', url: value };
}

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  host: string;
  port: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveMs: number;
  logLevel: Env['LOG_LEVEL'];
  /** Readable lines on a developer's machine; JSON lines everywhere else, for log shippers. */
  logFormat: 'json' | 'pretty';
  metrics: {
    /** GET /metrics then asks for `Authorization: Bearer <token>`. */
    token: string | undefined;
    /** Served without a token (outside production); production serves it only with one. */
    open: boolean;
  };
  trustProxy: Env['TRUST_PROXY'];
  database: {
    /** Undefined means the embedded PGlite database. */
    url: string | undefined;
    poolSize: number;
    pgliteDataDir: string;
    pglitePort: number;
    migrateOnStart: boolean;
    /** Whether the plain reads are prepared statements (not through a pooler in transaction mode). */
    preparedStatements: boolean;
  };
  /** Undefined means the in-process session store. */
  redisUrl: string | undefined;
  /** Put before every Redis key, so several apps can share one Redis. */
  redisPrefix: string;
  session: {
    /** The first secret signs new cookies; the others still verify older ones (rotation). */
    secrets: [string, ...string[]];
    /** True when no SESSION_SECRET was given and a random one was made for this process. */
    secretIsEphemeral: boolean;
    cookieName: string;
    secureCookie: boolean;
    idleTimeoutMs: number;
    absoluteLifetimeMs: number;
    rememberMeMs: number;
    /** How long a password confirmation (sudo mode) lets sensitive changes through. */
    passwordConfirmationMs: number;
  };
  twoFactor: {
    provider: 'console' | 'twilio';
    twilio: TwilioConfig | undefined;
    defaultCountry: string;
    resendCooldownMs: number;
    /** How long a sign-in may wait at the code step after the password was accepted. */
    pendingLifetimeMs: number;
    /** The console provider's outbox page, /dev/outbox, exists only outside production. */
    devOutbox: boolean;
    /** Countries codes may be sent to; empty means any. */
    allowedCountries: string[];
  };
  limits: Limits;
  totp: {
    /** Seal authenticator-app secrets: the first key seals, all open. Undefined outside production only. */
    keys: SecretKey[] | undefined;
    /** Without keys, in development: where a generated key is kept across restarts (in the embedded database's folder, which owns it like owner.lock). */
    devKeyFile: string | undefined;
    /** The issuer authenticator apps show beside the account name. */
    issuer: string;
    /** Who keeps and checks the secrets of apps set up from now on: here (RFC 6238), or Twilio Verify's TOTP factors. */
    provider: 'local' | 'twilio';
  };
  /** The JSON API. */
  api: {
    /** Sign access tokens: the first signs, all are published at /.well-known/jwks.json. Undefined outside production only. */
    tokenKeys: TokenKey[] | undefined;
    issuer: string;
    audience: string;
    accessTokenMs: number;
    /** Tokens of a verified phone number (POST /api/auth/verify-code). */
    phoneTokenMs: number;
    /** How long an account's refresh token lasts unused (each use rotates it). */
    refreshTokenMs: number;
    /** Origins allowed to call the API from a browser; empty: CORS is off. */
    corsOrigins: string[];
    /** Phone-verification requests per minute, per IP and per number. */
    requestsPerMinute: number;
  };
  /** Admins must have 2FA on to open the admin area (always in production). */
  adminRequiresTwoFactor: boolean;
  /** Undefined means "contact the site's administrators", with no address. */
  supportContact: SupportContact;
  mail: {
    /** Undefined: mail goes to the log and /dev/outbox (development only). */
    smtpUrl: string | undefined;
    from: string;
    /** Where links in mail lead: this, never a request's Host header. */
    publicUrl: string;
    /** The name at the foot of every mail (TOTP_ISSUER, the name authenticator apps show too). */
    appName: string;
    /** The outbox seals queued mail with keys derived from these. */
    secrets: string[];
  };
  /** Unverified accounts may not turn on 2FA or use the API. */
  requireVerifiedEmail: boolean;
  /** Passkeys (WebAuthn): whom they are made for, and the pages' origins they are accepted from. */
  passkeys: {
    /** The relying party ID: the site's host name (or a parent domain of it). */
    rpId: string;
    /** The origins a passkey's answer may come from (each on rpId or below it). */
    origins: string[];
    /** The name the browser shows beside a new passkey (TOTP_ISSUER). */
    rpName: string;
  };
}

export interface Limits {
  /** Failed sign-ins per IP per 15 minutes. */
  signInsPerIp: number;
  /** Consecutive failed sign-ins on one account before it locks (30 s, doubling). */
  signInLockAfter: number;
  signInMaxLockSeconds: number;
  /** Sign-ups per IP per hour. */
  signUpsPerIp: number;
  /** Codes sent per user and per phone number. */
  codesPer10Minutes: number;
  codesPerDay: number;
  /** Codes sent per IP per 10 minutes. */
  codesPerIp: number;
  /** Wrong codes per user per hour before the code step locks for an hour. */
  wrongCodesPerUser: number;
  /** Failed sign-ins per minute, across all accounts, that log a credential-stuffing warning. */
  alertFailedSignInsPerMinute: number;
  /** "Forgot password?" requests per IP per hour. */
  passwordResetsPerIp: number;
  /** Mails asked for per hour per address (reset links) and per account (verification, change of email). */
  mailsPerAccount: number;
}

export interface TwilioConfig {
  accountSid: string;
  /** Basic-auth user and password: an API key and secret, or the account SID and auth token. */
  username: string;
  password: string;
  verifyServiceSid: string;
  /**
   * The Verify service of the JSON API's open phone verification: one of its own, so that a
   * stranger verifying a number there never touches the verification its owner signs in with
   * (Twilio keeps one pending verification per number and service). The sign-in service when unset
   * (refused in production).
   */
  apiVerifyServiceSid: string;
  timeoutMs: number;
  /** A stand-in for https://verify.twilio.com; never in production. */
  apiBaseUrl: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function productionProblems(env: Env): string[] {
  const problems: string[] = [];
  const secret = env.SESSION_SECRET ?? '';
  if (!secret) {
    problems.push('SESSION_SECRET: required in production (at least 32 random characters)');
  } else if (secret.length < MIN_SECRET_LENGTH) {
    problems.push(`SESSION_SECRET: must be at least ${MIN_SECRET_LENGTH} characters in production`);
  } else if (DEFAULT_SECRET_MARKERS.some((marker) => secret.toLowerCase().includes(marker))) {
    problems.push('SESSION_SECRET: looks like a placeholder; generate a random one');
  }
  if (codeProvider(env) === 'console') {
    problems.push('CODE_PROVIDER: the console provider only logs codes; configure Twilio (TWILIO_*) for production');
  }
  if (!env.TOTP_ENCRYPTION_KEYS) {
    problems.push(
      `TOTP_ENCRYPTION_KEYS: required in production (<id>:<base64 of ${SECRET_KEY_BYTES} random bytes>; authenticator-app secrets are stored encrypted with it)`,
    );
  }
  if (env.ADMIN_REQUIRES_2FA === false) {
    problems.push('ADMIN_REQUIRES_2FA: admins must use two-factor authentication in production');
  }
  if (!env.API_TOKEN_KEYS) {
    problems.push(
      "API_TOKEN_KEYS: required in production (<kid>:<base64 PKCS#8 P-256 private key>; signs the JSON API's access tokens)",
    );
  }
  if (env.TWILIO_API_BASE_URL) {
    problems.push('TWILIO_API_BASE_URL: points Twilio calls at a stand-in, refused in production');
  }
  if (
    codeProvider(env) === 'twilio' &&
    (!env.TWILIO_API_VERIFY_SERVICE_SID || env.TWILIO_API_VERIFY_SERVICE_SID === env.TWILIO_VERIFY_SERVICE_SID)
  ) {
    problems.push(
      "TWILIO_API_VERIFY_SERVICE_SID: required in production, a Verify service other than TWILIO_VERIFY_SERVICE_SID's (on one service, a stranger verifying a number through the open API shares, and can use up, the code its owner signs in with)",
    );
  }
  if (!env.SMTP_URL) {
    problems.push('SMTP_URL: required in production (without it mail is only written to the log)');
  }
  if (!env.MAIL_FROM) {
    problems.push('MAIL_FROM: required in production (the sender of password-reset and notice mails)');
  }
  if (!env.PUBLIC_URL) {
    problems.push('PUBLIC_URL: required in production (links in mail are built from it, never from the Host header)');
  } else if (!env.PUBLIC_URL.startsWith('https://')) {
    problems.push('PUBLIC_URL: must start with https:// in production');
  }
  if (!env.PASSKEY_RP_ID) {
    problems.push('PASSKEY_RP_ID: required in production (the host name passkeys are made for, e.g. example.com)');
  }
  if (!env.PASSKEY_ORIGINS.length) {
    problems.push(
      'PASSKEY_ORIGINS: required in production (the https origins of the pages, e.g. https://app.example.com)',
    );
  } else if (env.PASSKEY_ORIGINS.some((origin) => !origin.startsWith('https://'))) {
    problems.push('PASSKEY_ORIGINS: every origin must start with https:// in production');
  }
  if (!env.ALLOW_EMBEDDED_STORES_IN_PRODUCTION) {
    if (!env.DATABASE_URL) {
      problems.push(
        'DATABASE_URL: required in production (the embedded database is for development; set ALLOW_EMBEDDED_STORES_IN_PRODUCTION=true to accept it)',
      );
    }
    if (!env.REDIS_URL) {
      problems.push(
        'REDIS_URL: required in production (in-process sessions are lost on restart and not shared between instances; set ALLOW_EMBEDDED_STORES_IN_PRODUCTION=true to accept it)',
      );
    }
  }
  return problems;
}

function codeProvider(env: Env): 'console' | 'twilio' {
  return env.CODE_PROVIDER ?? (env.TWILIO_ACCOUNT_SID ? 'twilio' : 'console');
}

/** Authenticator apps go to Twilio Verify when Twilio sends the codes, unless TOTP_PROVIDER says otherwise. */
function totpProvider(env: Env): 'local' | 'twilio' {
  return env.TOTP_PROVIDER ?? (codeProvider(env) === 'twilio' ? 'twilio' : 'local');
}

const usesTwilio = (env: Env) => codeProvider(env) === 'twilio' || totpProvider(env) === 'twilio';

function twilioProblems(env: Env): string[] {
  if (!usesTwilio(env)) return [];
  const problems: string[] = [];
  if (!env.TWILIO_ACCOUNT_SID) problems.push('TWILIO_ACCOUNT_SID: required for the Twilio provider');
  if (!env.TWILIO_VERIFY_SERVICE_SID) problems.push('TWILIO_VERIFY_SERVICE_SID: required for the Twilio provider');
  const hasKey = Boolean(env.TWILIO_API_KEY_SID && env.TWILIO_API_KEY_SECRET);
  if (!hasKey && !env.TWILIO_AUTH_TOKEN) {
    problems.push(
      'TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET (or TWILIO_AUTH_TOKEN): required for the Twilio provider',
    );
  }
  return problems;
}

function twilioConfig(env: Env): TwilioConfig | undefined {
  if (!usesTwilio(env) || !env.TWILIO_ACCOUNT_SID || !env.TWILIO_VERIFY_SERVICE_SID) return undefined;
  const useKey = Boolean(env.TWILIO_API_KEY_SID && env.TWILIO_API_KEY_SECRET);
  return {
    accountSid: env.TWILIO_ACCOUNT_SID,
    username: useKey ? env.TWILIO_API_KEY_SID! : env.TWILIO_ACCOUNT_SID,
    password: useKey ? env.TWILIO_API_KEY_SECRET! : env.TWILIO_AUTH_TOKEN!,
    verifyServiceSid: env.TWILIO_VERIFY_SERVICE_SID,
    apiVerifyServiceSid: env.TWILIO_API_VERIFY_SERVICE_SID ?? env.TWILIO_VERIFY_SERVICE_SID,
    timeoutMs: env.TWILIO_TIMEOUT_MS,
    apiBaseUrl: env.TWILIO_API_BASE_URL,
  };
}

/**
 * The relying party of passkeys and the origins they are accepted from: as configured, or (outside
 * production, which refuses missing values) localhost and http://localhost:PORT. Every origin must
 * be on the RP ID or below it, or browsers would refuse every passkey.
 */
function passkeySettings(env: Env): { rpId: string; origins: string[]; problems: string[] } {
  const rpId = env.PASSKEY_RP_ID ?? 'localhost';
  const origins = env.PASSKEY_ORIGINS.length ? env.PASSKEY_ORIGINS : [`http://localhost:${env.PORT}`];
  // In production a missing value is refused on its own (productionProblems): no pairing to judge.
  const missing = !env.PASSKEY_RP_ID || !env.PASSKEY_ORIGINS.length;
  if (env.NODE_ENV === 'production' && missing) return { rpId, origins, problems: [] };
  const problems = origins
    .filter((origin) => {
      const host = new URL(origin).hostname;
      return host !== rpId && !host.endsWith(`.${rpId}`);
    })
    .map((origin) => `PASSKEY_ORIGINS: ${origin} is not on ${rpId} (PASSKEY_RP_ID) or below it`);
  return { rpId, origins, problems };
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // A variable set to nothing (`CODE_PROVIDER=`, as .env.example lists them) is a variable not set.
  const given = Object.fromEntries(Object.entries(source).filter(([, value]) => value?.trim()));
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const env = parsed.data;
  const isProduction = env.NODE_ENV === 'production';
  const passkeys = passkeySettings(env);
  const problems = [...twilioProblems(env), ...(isProduction ? productionProblems(env) : []), ...passkeys.problems];
  if (problems.length) throw new ConfigError(problems);

  const secret = env.SESSION_SECRET || randomBytes(32).toString('base64url');
  return {
    env: env.NODE_ENV,
    isProduction,
    host: env.HOST,
    port: env.PORT,
    keepAliveMs: env.HTTP_KEEP_ALIVE_SECONDS * 1_000,
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT ?? (env.NODE_ENV === 'development' ? 'pretty' : 'json'),
    metrics: { token: env.METRICS_TOKEN, open: !isProduction },
    trustProxy: env.TRUST_PROXY,
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      pgliteDataDir: env.PGLITE_DATA_DIR,
      pglitePort: env.PGLITE_PORT,
      migrateOnStart: env.MIGRATE_ON_START,
      preparedStatements: env.DATABASE_PREPARED_STATEMENTS,
    },
    redisUrl: env.REDIS_URL,
    redisPrefix: env.REDIS_PREFIX,
    session: {
      secrets: [secret, ...env.SESSION_PREVIOUS_SECRETS],
      secretIsEphemeral: !env.SESSION_SECRET,
      // The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only
      // and for path /, so a sibling subdomain cannot plant a session cookie.
      cookieName: env.SESSION_COOKIE_NAME ?? (isProduction ? '__Host-tfa.sid' : 'tfa.sid'),
      secureCookie: isProduction,
      idleTimeoutMs: env.SESSION_IDLE_MINUTES * 60_000,
      absoluteLifetimeMs: env.SESSION_ABSOLUTE_HOURS * 3_600_000,
      rememberMeMs: env.REMEMBER_ME_DAYS * 86_400_000,
      passwordConfirmationMs: env.PASSWORD_CONFIRMATION_MINUTES * 60_000,
    },
    twoFactor: {
      provider: codeProvider(env),
      twilio: twilioConfig(env),
      defaultCountry: env.DEFAULT_PHONE_COUNTRY,
      resendCooldownMs: env.CODE_RESEND_SECONDS * 1_000,
      pendingLifetimeMs: env.SECOND_FACTOR_MINUTES * 60_000,
      devOutbox: !isProduction && codeProvider(env) === 'console',
      allowedCountries: env.CODE_COUNTRIES,
    },
    totp: {
      keys: env.TOTP_ENCRYPTION_KEYS,
      devKeyFile:
        env.NODE_ENV === 'development' && !env.TOTP_ENCRYPTION_KEYS && !env.PGLITE_DATA_DIR.startsWith('memory://')
          ? path.join(env.PGLITE_DATA_DIR, 'totp-key')
          : undefined,
      issuer: env.TOTP_ISSUER,
      provider: totpProvider(env),
    },
    api: {
      tokenKeys: env.API_TOKEN_KEYS,
      issuer: env.API_TOKEN_ISSUER,
      audience: env.API_TOKEN_AUDIENCE,
      accessTokenMs: env.API_ACCESS_TOKEN_MINUTES * 60_000,
      phoneTokenMs: env.API_PHONE_TOKEN_HOURS * 3_600_000,
      refreshTokenMs: env.API_REFRESH_TOKEN_DAYS * 86_400_000,
      corsOrigins: env.API_CORS_ORIGINS,
      requestsPerMinute: env.LIMIT_API_PER_MINUTE,
    },
    adminRequiresTwoFactor: env.ADMIN_REQUIRES_2FA ?? isProduction,
    supportContact: supportContact(env.SUPPORT_CONTACT),
    mail: {
      smtpUrl: env.SMTP_URL,
      from: env.MAIL_FROM ?? `${env.TOTP_ISSUER} <no-reply@localhost>`,
      publicUrl: env.PUBLIC_URL ?? `http://localhost:${env.PORT}`,
      appName: env.TOTP_ISSUER,
      secrets: [secret, ...env.SESSION_PREVIOUS_SECRETS],
    },
    requireVerifiedEmail: env.REQUIRE_VERIFIED_EMAIL,
    passkeys: { rpId: passkeys.rpId, origins: passkeys.origins, rpName: env.TOTP_ISSUER },
    limits: {
      signInsPerIp: env.LIMIT_SIGN_INS_PER_IP,
      signInLockAfter: env.LIMIT_SIGN_IN_LOCK_AFTER,
      signInMaxLockSeconds: env.LIMIT_SIGN_IN_MAX_LOCK_MINUTES * 60,
      signUpsPerIp: env.LIMIT_SIGN_UPS_PER_IP,
      codesPer10Minutes: env.LIMIT_CODES_PER_10_MINUTES,
      codesPerDay: env.LIMIT_CODES_PER_DAY,
      codesPerIp: env.LIMIT_CODES_PER_IP,
      wrongCodesPerUser: env.LIMIT_WRONG_CODES_PER_USER,
      alertFailedSignInsPerMinute: env.ALERT_FAILED_SIGN_INS_PER_MINUTE,
      passwordResetsPerIp: env.LIMIT_PASSWORD_RESETS_PER_IP,
      mailsPerAccount: env.LIMIT_MAILS_PER_ACCOUNT,
    },
  };
}
