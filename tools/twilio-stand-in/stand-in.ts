// A loopback stand-in for Twilio's Verify v2 API, written to Twilio's published OpenAPI
// description (shared/twilio-oai): same paths, form-encoded requests, Basic auth, JSON shapes,
// statuses and error codes. It lets tests (and people without a Twilio account) drive the real
// `twilio` SDK through every path: delivery, wrong and expired codes, limits, landlines,
// outages and the refusals of Twilio's error dictionary (fraud blocks, geo permissions, disabled
// channels), and TOTP factors with their challenges (factors.ts). Nothing here is used in production.
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Request, type Response } from 'express';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { VerifyFactors } from './factors.js';

export const VERIFICATION_TTL_MS = 10 * 60_000;
export const MAX_CHECK_ATTEMPTS = 5;
export const MAX_SEND_ATTEMPTS = 5;
const CHANNELS = ['sms', 'call'] as const;
type Channel = (typeof CHANNELS)[number];

export interface StandInCredentials {
  accountSid: string;
  authToken: string;
  serviceSid: string;
  /** More Verify services of the account (each keeps its own verifications), beside serviceSid. */
  otherServiceSids?: string[];
  /** API key SID -> secret, the credential Twilio recommends for production. */
  apiKeys?: Record<string, string>;
}

export interface Faults {
  /** Drop every connection without an answer. */
  down: boolean;
  /** Wait this long before answering. */
  delayMs: number;
  /** Answer every API call with a 500. */
  serverError: boolean;
  /** Channels whose delivery fails (503), as when a carrier route is broken. */
  failingChannels: Channel[];
  /** Answer every API call with Twilio's account-wide 429 (20429). */
  rateLimited: boolean;
  /** Channels turned off in the Verify service's settings: starting one answers 60223 (400). */
  disabledChannels: Channel[];
  /** Countries (ISO codes) Verify geo permissions refuse on every channel: 60605 (403). */
  geoBlockedCountries: string[];
  /** Countries Messaging geo permissions do not enable for SMS: 21408 (400); calls still go. */
  smsDisabledCountries: string[];
  /** Number prefixes Fraud Guard blocks SMS to (it guards SMS only): 60410 (403). */
  fraudBlockedPrefixes: string[];
  /** Answer every verification start with 60212 (429), too many concurrent requests for the number. */
  tooManyConcurrentRequests: boolean;
  /** Answer every check with 60200 (400), an invalid parameter. */
  invalidCheckParameter: boolean;
}

function noFaults(): Faults {
  return {
    down: false,
    delayMs: 0,
    serverError: false,
    failingChannels: [],
    rateLimited: false,
    disabledChannels: [],
    geoBlockedCountries: [],
    smsDisabledCountries: [],
    fraudBlockedPrefixes: [],
    tooManyConcurrentRequests: false,
    invalidCheckParameter: false,
  };
}

/** A comma-separated list from the faults form ("sms,call"), without blanks. */
function listOf(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

function channelsOf(value: string | undefined): Channel[] {
  return listOf(value).filter((channel): channel is Channel => (CHANNELS as readonly string[]).includes(channel));
}

export interface SentMessage {
  to: string;
  channel: Channel;
  code: string;
  at: Date;
  verificationSid: string;
}

interface Verification {
  sid: string;
  serviceSid: string;
  to: string;
  channel: Channel;
  code: string;
  status: 'pending' | 'approved' | 'canceled' | 'max_attempts_reached' | 'expired';
  createdAt: number;
  updatedAt: number;
  checkAttempts: number;
  sendAttempts: Array<{ time: number; channel: Channel; attempt_sid: string }>;
}

function sid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export class TwilioStandIn {
  readonly faults: Faults = noFaults();
  readonly outbox: SentMessage[] = [];
  private readonly verifications = new Map<string, Verification>();
  /** Entities, TOTP factors and challenges (factors.ts); `factors.totp` holds the service's TOTP settings. */
  readonly factors: VerifyFactors;
  private clockOffsetMs = 0;
  private server: Server | undefined;
  url = '';

  constructor(
    readonly credentials: StandInCredentials,
    private readonly onSend: (message: SentMessage) => void = () => {},
  ) {
    this.factors = new VerifyFactors({
      now: () => this.now(),
      error: (res, status, code, message) => this.error(res, status, code, message),
      knownService: (req, res) => this.knownService(req, res),
      accountSid: credentials.accountSid,
      serviceSid: credentials.serviceSid,
    });
  }

  /** The stand-in's clock (ms since the epoch), which `advanceClock` moves. */
  currentTime(): number {
    return this.now();
  }

  /** Moves the stand-in's clock forward, to expire verifications and challenges without waiting. */
  advanceClock(ms: number): void {
    this.clockOffsetMs += ms;
  }

  resetFaults(): void {
    Object.assign(this.faults, noFaults());
  }

  /** The code most recently sent to `to`, as the person would read it on their phone. */
  lastCodeFor(to: string): string | undefined {
    return this.outbox.findLast((message) => message.to === to)?.code;
  }

  messagesTo(to: string): SentMessage[] {
    return this.outbox.filter((message) => message.to === to);
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = this.app().listen(port, host);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.server = server;
    this.url = `http://${host}:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  private app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(express.urlencoded({ extended: false }));

    // Controls for people and tests; never subject to faults.
    app.get('/_stand-in/outbox', (_req, res) => {
      res.json(this.outbox.slice(-50).reverse());
    });
    app.post('/_stand-in/faults', (req, res) => {
      const body = req.body as Record<string, string | undefined>;
      this.faults.down = body.down === 'true';
      this.faults.delayMs = Number(body.delayMs ?? 0) || 0;
      this.faults.serverError = body.serverError === 'true';
      this.faults.rateLimited = body.rateLimited === 'true';
      this.faults.failingChannels = channelsOf(body.failingChannels);
      this.faults.disabledChannels = channelsOf(body.disabledChannels);
      this.faults.geoBlockedCountries = listOf(body.geoBlockedCountries).map((country) => country.toUpperCase());
      this.faults.smsDisabledCountries = listOf(body.smsDisabledCountries).map((country) => country.toUpperCase());
      this.faults.fraudBlockedPrefixes = listOf(body.fraudBlockedPrefixes);
      this.faults.tooManyConcurrentRequests = body.tooManyConcurrentRequests === 'true';
      this.faults.invalidCheckParameter = body.invalidCheckParameter === 'true';
      res.json(this.faults);
    });

    // The Verify service's TOTP settings (Twilio: Service totp.issuer, totp.skew, ...), plus allowReplay.
    app.post('/_stand-in/totp', (req, res) => {
      const body = req.body as Record<string, string | undefined>;
      const totp = this.factors.totp;
      if (body.issuer) totp.issuer = body.issuer;
      const skew = Number(body.skew);
      if (body.skew !== undefined && Number.isInteger(skew) && skew >= 0 && skew <= 2) totp.skew = skew;
      if (body.allowReplay !== undefined) totp.allowReplay = body.allowReplay === 'true';
      res.json(totp);
    });

    app.use(async (req, res, next) => {
      if (this.faults.down) {
        req.socket.destroy();
        return;
      }
      if (this.faults.delayMs) await new Promise((resolve) => setTimeout(resolve, this.faults.delayMs));
      if (this.faults.serverError) return this.error(res, 500, 20500, 'Internal Server Error');
      if (!this.authenticated(req)) return this.error(res, 401, 20003, 'Authenticate');
      if (this.faults.rateLimited) {
        res.set({ 'Retry-After': '60', 'Twilio-Reached-Rate-Limit': 'true' });
        return this.error(res, 429, 20429, 'Too Many Requests');
      }
      next();
    });

    app.post('/v2/Services/:serviceSid/Verifications', (req, res) => this.createVerification(req, res));
    app.get('/v2/Services/:serviceSid/Verifications/:sid', (req, res) => this.fetchVerification(req, res));
    app.post('/v2/Services/:serviceSid/Verifications/:sid', (req, res) => this.updateVerification(req, res));
    app.post('/v2/Services/:serviceSid/VerificationCheck', (req, res) => this.checkVerification(req, res));
    this.factors.routes(app);
    app.use((req, res) => this.error(res, 404, 20404, `The requested resource ${req.path} was not found`));
    return app;
  }

  private authenticated(req: Request): boolean {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Basic ')) return false;
    const [user = '', ...rest] = Buffer.from(header.slice(6), 'base64').toString().split(':');
    const password = rest.join(':');
    const { accountSid, authToken, apiKeys = {} } = this.credentials;
    if (safeEqual(user, accountSid)) return safeEqual(password, authToken);
    const secret = apiKeys[user];
    return secret !== undefined && safeEqual(password, secret);
  }

  private error(res: Response, status: number, code: number, message: string): void {
    res.status(status).json({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
  }

  private knownService(req: Request, res: Response): boolean {
    const serviceSid = String(req.params.serviceSid);
    if (serviceSid === this.credentials.serviceSid || this.credentials.otherServiceSids?.includes(serviceSid))
      return true;
    this.error(res, 404, 20404, `The requested resource /Services/${String(req.params.serviceSid)} was not found`);
    return false;
  }

  private refresh(verification: Verification): Verification {
    if (verification.status === 'pending' && this.now() - verification.createdAt > VERIFICATION_TTL_MS) {
      verification.status = 'expired';
      verification.updatedAt = this.now();
    }
    return verification;
  }

  /** The service's verification named `sid`: another service's is not found. */
  private verificationOf(req: Request, sid: string | undefined): Verification | undefined {
    const verification = sid === undefined ? undefined : this.verifications.get(sid);
    return verification?.serviceSid === String(req.params.serviceSid) ? verification : undefined;
  }

  private pendingFor(serviceSid: string, to: string): Verification | undefined {
    for (const verification of this.verifications.values()) {
      if (verification.serviceSid !== serviceSid || verification.to !== to) continue;
      if (this.refresh(verification).status === 'pending') return verification;
    }
    return undefined;
  }

  /** A verification killed by too many wrong checks keeps answering 60202 until it expires. */
  private lockedFor(serviceSid: string, to: string): Verification | undefined {
    for (const verification of this.verifications.values()) {
      if (verification.serviceSid !== serviceSid || verification.to !== to) continue;
      if (this.now() - verification.createdAt > VERIFICATION_TTL_MS) continue;
      if (verification.status === 'max_attempts_reached') return verification;
    }
    return undefined;
  }

  private json(verification: Verification, extra: Record<string, unknown> = {}) {
    const { accountSid } = this.credentials;
    const { serviceSid } = verification;
    return {
      sid: verification.sid,
      service_sid: serviceSid,
      account_sid: accountSid,
      to: verification.to,
      channel: verification.channel,
      status: verification.status,
      valid: verification.status === 'approved',
      lookup: { carrier: null },
      amount: null,
      payee: null,
      send_code_attempts: verification.sendAttempts.map((attempt) => ({
        ...attempt,
        time: new Date(attempt.time).toISOString(),
      })),
      date_created: new Date(verification.createdAt).toISOString(),
      date_updated: new Date(verification.updatedAt).toISOString(),
      sna: null,
      url: `https://verify.twilio.com/v2/Services/${serviceSid}/Verifications/${verification.sid}`,
      ...extra,
    };
  }

  private createVerification(req: Request, res: Response): void {
    if (!this.knownService(req, res)) return;
    const body = req.body as Record<string, string | undefined>;
    const to = body.To ?? '';
    const channel = body.Channel ?? '';
    if (!(CHANNELS as readonly string[]).includes(channel)) {
      return this.error(res, 400, 60200, `Invalid parameter \`Channel\`: ${channel}`);
    }
    const phone = /^\+[1-9]\d{6,14}$/.test(to) ? parsePhoneNumberFromString(to) : undefined;
    if (!phone?.isValid()) return this.error(res, 400, 60200, `Invalid parameter \`To\`: ${to}`);
    // The refusals below follow Twilio's error dictionary (codes and HTTP statuses).
    if (this.faults.disabledChannels.includes(channel as Channel)) {
      return this.error(res, 400, 60223, `Delivery channel disabled: ${channel.toUpperCase()}`);
    }
    const country = phone.country ?? '';
    if (this.faults.geoBlockedCountries.includes(country)) {
      return this.error(res, 403, 60605, 'Verification delivery attempt blocked');
    }
    if (channel === 'sms' && this.faults.smsDisabledCountries.includes(country)) {
      return this.error(
        res,
        400,
        21408,
        `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${to}`,
      );
    }
    if (channel === 'sms' && this.faults.fraudBlockedPrefixes.some((prefix) => to.startsWith(prefix))) {
      return this.error(res, 403, 60410, 'Verification delivery attempt blocked');
    }
    if (channel === 'sms' && phone.getType() === 'FIXED_LINE') {
      return this.error(res, 403, 60205, 'SMS is not supported by landline phone number');
    }
    if (this.faults.failingChannels.includes(channel as Channel)) {
      return this.error(res, 503, 60008, `Delivery by ${channel} is failing right now`);
    }
    if (this.faults.tooManyConcurrentRequests) {
      return this.error(res, 429, 60212, 'Too many concurrent requests for phone number');
    }

    const now = this.now();
    const serviceSid = String(req.params.serviceSid);
    let verification = this.pendingFor(serviceSid, to);
    if (verification && verification.sendAttempts.length >= MAX_SEND_ATTEMPTS) {
      return this.error(res, 429, 60203, 'Max send attempts reached');
    }
    if (!verification) {
      verification = {
        sid: sid('VE'),
        serviceSid,
        to,
        channel: channel as Channel,
        code: String(randomInt(0, 1_000_000)).padStart(6, '0'),
        status: 'pending',
        createdAt: now,
        updatedAt: now,
        checkAttempts: 0,
        sendAttempts: [],
      };
      this.verifications.set(verification.sid, verification);
    }
    verification.channel = channel as Channel;
    verification.updatedAt = now;
    verification.sendAttempts.push({ time: now, channel: channel as Channel, attempt_sid: sid('VL') });
    const message = {
      to,
      channel: channel as Channel,
      code: verification.code,
      at: new Date(now),
      verificationSid: verification.sid,
    };
    this.outbox.push(message);
    this.onSend(message);
    res.status(201).json(this.json(verification));
  }

  private fetchVerification(req: Request, res: Response): void {
    if (!this.knownService(req, res)) return;
    const verification = this.verificationOf(req, String(req.params.sid));
    if (!verification) return this.error(res, 404, 20404, 'The requested resource was not found');
    res.json(this.json(this.refresh(verification)));
  }

  private updateVerification(req: Request, res: Response): void {
    if (!this.knownService(req, res)) return;
    const verification = this.verificationOf(req, String(req.params.sid));
    if (!verification || this.refresh(verification).status !== 'pending') {
      return this.error(res, 404, 20404, 'The requested resource was not found');
    }
    const status = (req.body as Record<string, string | undefined>).Status;
    if (status !== 'canceled' && status !== 'approved') {
      return this.error(res, 400, 60200, `Invalid parameter \`Status\`: ${status}`);
    }
    verification.status = status;
    verification.updatedAt = this.now();
    res.json(this.json(verification));
  }

  private checkVerification(req: Request, res: Response): void {
    if (!this.knownService(req, res)) return;
    const body = req.body as Record<string, string | undefined>;
    const code = body.Code ?? '';
    if (code.length < 4 || code.length > 10) return this.error(res, 400, 60200, 'Invalid parameter `Code`');
    if (this.faults.invalidCheckParameter) return this.error(res, 400, 60200, 'Invalid parameter');
    const byTo = body.To;
    const bySid = body.VerificationSid;
    if (!byTo && !bySid) return this.error(res, 400, 60200, 'Either a `To` or `VerificationSid` must be specified');
    const serviceSid = String(req.params.serviceSid);
    const found = bySid
      ? this.verificationOf(req, bySid)
      : (this.pendingFor(serviceSid, byTo ?? '') ?? this.lockedFor(serviceSid, byTo ?? ''));
    const verification = found && this.refresh(found);
    if (verification?.status === 'max_attempts_reached') {
      return this.error(res, 429, 60202, 'Max check attempts reached');
    }
    if (!verification || verification.status !== 'pending') {
      return this.error(res, 404, 20404, 'The requested resource /Services/VerificationCheck was not found');
    }
    verification.updatedAt = this.now();
    if (safeEqual(code, verification.code)) {
      verification.status = 'approved';
    } else {
      verification.checkAttempts += 1;
      if (verification.checkAttempts >= MAX_CHECK_ATTEMPTS) {
        verification.status = 'max_attempts_reached';
        return this.error(res, 429, 60202, 'Max check attempts reached');
      }
    }
    const {
      sid: _sid,
      url: _url,
      lookup: _lookup,
      send_code_attempts: _attempts,
      sna: _sna,
      ...check
    } = this.json(verification);
    res.json({ ...check, sid: verification.sid, sna_attempts_error_codes: [] });
  }
}
