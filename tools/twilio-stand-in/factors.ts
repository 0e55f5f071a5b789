// Verify's Entities, Factors (TOTP) and Challenges, for the stand-in: written to Twilio's
// OpenAPI description (shared/twilio-oai/twilio_verify_v2.json, paths
// /v2/Services/{ServiceSid}/Entities/...) and Twilio's error dictionary. Codes are real RFC 6238
// codes computed from the binding secret handed out at creation, so tests compute them too.
//
// What Twilio documents, and the stand-in does:
// - A new factor is `unverified`; its `binding` ({secret, uri}) comes back on creation only.
// - Updating a factor with a correct AuthPayload makes it `verified`; a wrong one answers 200
//   with the factor still `unverified` (Twilio's behaviour since 27 October 2021; before, 60311).
//   Five wrong codes lock it: 60310 (429).
// - A challenge with a correct AuthPayload comes back `approved`; a wrong one `pending`, which
//   may be updated with another AuthPayload; five wrong codes: 60308 (429). Challenges expire
//   (default 5 minutes, at most 60): updating one then answers 60323 (403).
// - A challenge for an unverified factor: 60318 (403). A malformed FactorSid: 60362.
//   A factor whose binding secret already exists: 60317 (409). Unknown resources: 20404.
// - Unverified factors age out (Twilio: 1 to 24 hours; here after UNVERIFIED_FACTOR_TTL_MS).
// What Twilio does not document, and the stand-in chooses:
// - A code is accepted once per factor (RFC 6238 section 5.2): a later code must be for a later
//   time step, otherwise the challenge stays `pending` as for a wrong code. `allowReplay`
//   turns this off, to show what an app sees from a verifier that does not refuse replays.
// - Invalid parameters (identity, friendly name, config ranges) answer 60200 (400), the generic
//   Verify "invalid parameter" code.
import { randomBytes } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import { Secret, TOTP } from 'otpauth';

export const UNVERIFIED_FACTOR_TTL_MS = 60 * 60_000;
export const CHALLENGE_DEFAULT_TTL_MS = 5 * 60_000;
export const CHALLENGE_MAX_TTL_MS = 60 * 60_000;
export const MAX_FACTOR_ATTEMPTS = 5;
export const MAX_CHALLENGE_ATTEMPTS = 5;
const IDENTITY = /^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$/;
const FACTOR_SID = /^YF[0-9a-fA-F]{32}$/;
const ALGORITHMS = ['sha1', 'sha256', 'sha512'] as const;
type Algorithm = (typeof ALGORITHMS)[number];

export interface TotpConfig {
  alg: Algorithm;
  skew: number;
  code_length: number;
  time_step: number;
}

/** The Verify service's TOTP settings (Service `totp.*`): what factors get unless they say otherwise. */
export interface TotpServiceSettings extends TotpConfig {
  issuer: string;
  /** Not Twilio's: accept a code already accepted for the same factor (see above). */
  allowReplay: boolean;
}

export function defaultTotpSettings(): TotpServiceSettings {
  return { issuer: 'Stand-in Verify', alg: 'sha1', skew: 1, code_length: 6, time_step: 30, allowReplay: false };
}

interface Entity {
  sid: string;
  identity: string;
  createdAt: number;
  updatedAt: number;
}

export interface StandInFactor {
  sid: string;
  entitySid: string;
  identity: string;
  friendlyName: string;
  secret: string;
  config: TotpConfig;
  status: 'unverified' | 'verified';
  createdAt: number;
  updatedAt: number;
  failedAttempts: number;
  /** The time step of the last accepted code. */
  lastStep: number | undefined;
}

export interface StandInChallenge {
  sid: string;
  factorSid: string;
  entitySid: string;
  identity: string;
  status: 'pending' | 'expired' | 'approved' | 'denied';
  createdAt: number;
  updatedAt: number;
  respondedAt: number | undefined;
  expiresAt: number;
  failedAttempts: number;
  details: { message: string; date: string; fields: Array<{ label: string; value: string }> } | null;
  hiddenDetails: Record<string, string> | null;
}

export interface FactorsHost {
  now(): number;
  error(res: Response, status: number, code: number, message: string): void;
  knownService(req: Request, res: Response): boolean;
  readonly accountSid: string;
  readonly serviceSid: string;
}

type Body = Record<string, string | undefined>;

function sid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function intIn(value: string | undefined, min: number, max: number): number | undefined | 'invalid' {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) return 'invalid';
  const n = Number(value);
  return n >= min && n <= max ? n : 'invalid';
}

function totpOf(secret: string, config: TotpConfig): TOTP {
  return new TOTP({
    secret: Secret.fromBase32(secret),
    algorithm: config.alg.toUpperCase(),
    digits: config.code_length,
    period: config.time_step,
  });
}

/** The code an authenticator app shows for `secret` at `at` (ms since the epoch). */
export function totpCode(secret: string, config: TotpConfig, at: number): string {
  return totpOf(secret, config).generate({ timestamp: at });
}

export class VerifyFactors {
  readonly totp: TotpServiceSettings = defaultTotpSettings();
  private readonly entities = new Map<string, Entity>();
  private readonly factors = new Map<string, StandInFactor>();
  private readonly challenges = new Map<string, StandInChallenge>();

  constructor(private readonly host: FactorsHost) {}

  /** A factor as the stand-in holds it (tests: its status, secret and config), or undefined. */
  factor(factorSid: string): StandInFactor | undefined {
    const factor = this.factors.get(factorSid);
    return factor && this.alive(factor) ? { ...factor, config: { ...factor.config } } : undefined;
  }

  challenge(challengeSid: string): StandInChallenge | undefined {
    const challenge = this.challenges.get(challengeSid);
    return challenge && { ...this.refresh(challenge) };
  }

  entity(identity: string): { sid: string; identity: string } | undefined {
    const entity = this.entities.get(identity);
    return entity && { sid: entity.sid, identity: entity.identity };
  }

  /** The code the factor's app shows now (on the stand-in's clock), `steps` time steps away. */
  codeFor(factorSid: string, steps = 0): string {
    const factor = this.factors.get(factorSid);
    if (!factor) throw new Error(`no factor ${factorSid}`);
    return totpCode(factor.secret, factor.config, this.host.now() + steps * factor.config.time_step * 1000);
  }

  routes(router: Router): void {
    const base = '/v2/Services/:serviceSid/Entities';
    router.post(base, (req, res) => this.createEntity(req, res));
    router.get(`${base}/:identity`, (req, res) => this.fetchEntity(req, res));
    router.delete(`${base}/:identity`, (req, res) => this.deleteEntity(req, res));
    router.post(`${base}/:identity/Factors`, (req, res) => this.createFactor(req, res));
    router.get(`${base}/:identity/Factors`, (req, res) => this.listFactors(req, res));
    router.get(`${base}/:identity/Factors/:sid`, (req, res) => this.fetchFactor(req, res));
    router.post(`${base}/:identity/Factors/:sid`, (req, res) => this.updateFactor(req, res));
    router.delete(`${base}/:identity/Factors/:sid`, (req, res) => this.deleteFactor(req, res));
    router.post(`${base}/:identity/Challenges`, (req, res) => this.createChallenge(req, res));
    router.get(`${base}/:identity/Challenges/:sid`, (req, res) => this.fetchChallenge(req, res));
    router.post(`${base}/:identity/Challenges/:sid`, (req, res) => this.updateChallenge(req, res));
  }

  // --- helpers -------------------------------------------------------------------------------

  private url(path: string): string {
    return `https://verify.twilio.com/v2/Services/${this.host.serviceSid}/Entities/${path}`;
  }

  private notFound(res: Response, req: Request): void {
    this.host.error(res, 404, 20404, `The requested resource ${req.path} was not found`);
  }

  private alive(factor: StandInFactor): boolean {
    return factor.status === 'verified' || this.host.now() - factor.createdAt <= UNVERIFIED_FACTOR_TTL_MS;
  }

  private factorIn(req: Request): StandInFactor | undefined {
    const factor = this.factors.get(String(req.params.sid));
    if (!factor || factor.identity !== req.params.identity || !this.alive(factor)) return undefined;
    return factor;
  }

  private refresh(challenge: StandInChallenge): StandInChallenge {
    if (challenge.status === 'pending' && this.host.now() > challenge.expiresAt) {
      challenge.status = 'expired';
      challenge.updatedAt = this.host.now();
    }
    return challenge;
  }

  /** The time step a code matches within the factor's skew, or undefined. */
  private matchingStep(factor: StandInFactor, code: string): number | undefined {
    if (!/^\d+$/.test(code) || code.length !== factor.config.code_length) return undefined;
    const now = this.host.now();
    const delta = totpOf(factor.secret, factor.config).validate({
      token: code,
      timestamp: now,
      window: factor.config.skew,
    });
    if (delta === null) return undefined;
    const step = Math.floor(now / 1000 / factor.config.time_step) + delta;
    if (!this.totp.allowReplay && factor.lastStep !== undefined && step <= factor.lastStep) return undefined;
    return step;
  }

  private entityJson(entity: Entity) {
    const url = this.url(entity.identity);
    return {
      sid: entity.sid,
      identity: entity.identity,
      account_sid: this.host.accountSid,
      service_sid: this.host.serviceSid,
      date_created: iso(entity.createdAt),
      date_updated: iso(entity.updatedAt),
      url,
      links: { factors: `${url}/Factors`, new_factors: `${url}/Factors`, challenges: `${url}/Challenges` },
    };
  }

  private factorJson(factor: StandInFactor) {
    return {
      sid: factor.sid,
      account_sid: this.host.accountSid,
      service_sid: this.host.serviceSid,
      entity_sid: factor.entitySid,
      identity: factor.identity,
      date_created: iso(factor.createdAt),
      date_updated: iso(factor.updatedAt),
      friendly_name: factor.friendlyName,
      status: factor.status,
      factor_type: 'totp',
      config: { ...factor.config },
      metadata: null,
      url: this.url(`${factor.identity}/Factors/${factor.sid}`),
    };
  }

  private challengeJson(challenge: StandInChallenge) {
    const url = this.url(`${challenge.identity}/Challenges/${challenge.sid}`);
    return {
      sid: challenge.sid,
      account_sid: this.host.accountSid,
      service_sid: this.host.serviceSid,
      entity_sid: challenge.entitySid,
      identity: challenge.identity,
      factor_sid: challenge.factorSid,
      date_created: iso(challenge.createdAt),
      date_updated: iso(challenge.updatedAt),
      date_responded: iso(challenge.respondedAt),
      expiration_date: iso(challenge.expiresAt),
      status: challenge.status,
      responded_reason: 'none',
      details: challenge.details,
      hidden_details: challenge.hiddenDetails,
      metadata: null,
      factor_type: 'totp',
      url,
      links: { notifications: `${url}/Notifications` },
    };
  }

  private validIdentity(req: Request, res: Response, identity: string | undefined): identity is string {
    if (identity && identity.length >= 8 && identity.length <= 64 && IDENTITY.test(identity)) return true;
    this.host.error(res, 400, 60200, 'Invalid parameter `Identity`');
    return false;
  }

  private entityFor(identity: string): Entity {
    let entity = this.entities.get(identity);
    if (!entity) {
      const now = this.host.now();
      entity = { sid: sid('YE'), identity, createdAt: now, updatedAt: now };
      this.entities.set(identity, entity);
    }
    return entity;
  }

  /** Reads Config.* (create and update): undefined when a value is out of Twilio's ranges. */
  private configFrom(body: Body, base: TotpConfig): TotpConfig | undefined {
    const timeStep = intIn(body['Config.TimeStep'], 20, 60);
    const skew = intIn(body['Config.Skew'], 0, 2);
    const codeLength = intIn(body['Config.CodeLength'], 3, 8);
    const alg = body['Config.Alg'];
    if (timeStep === 'invalid' || skew === 'invalid' || codeLength === 'invalid') return undefined;
    if (alg !== undefined && !(ALGORITHMS as readonly string[]).includes(alg)) return undefined;
    return {
      alg: (alg as Algorithm | undefined) ?? base.alg,
      skew: skew ?? base.skew,
      code_length: codeLength ?? base.code_length,
      time_step: timeStep ?? base.time_step,
    };
  }

  // --- entities ------------------------------------------------------------------------------

  private createEntity(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const identity = (req.body as Body).Identity;
    if (!this.validIdentity(req, res, identity)) return;
    res.status(201).json(this.entityJson(this.entityFor(identity)));
  }

  private fetchEntity(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const entity = this.entities.get(String(req.params.identity));
    if (!entity) return this.notFound(res, req);
    res.json(this.entityJson(entity));
  }

  private deleteEntity(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const identity = String(req.params.identity);
    if (!this.entities.delete(identity)) return this.notFound(res, req);
    for (const [key, factor] of this.factors) if (factor.identity === identity) this.factors.delete(key);
    for (const [key, challenge] of this.challenges) if (challenge.identity === identity) this.challenges.delete(key);
    res.status(204).end();
  }

  // --- factors -------------------------------------------------------------------------------

  private createFactor(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const identity = String(req.params.identity);
    if (!this.validIdentity(req, res, identity)) return;
    const body = req.body as Body;
    const friendlyName = body.FriendlyName ?? '';
    if (!friendlyName || friendlyName.length > 64) {
      return this.host.error(res, 400, 60200, 'Invalid parameter `FriendlyName`');
    }
    if (body.FactorType !== 'totp') {
      // Push and passkeys factors exist at Twilio; the stand-in serves TOTP only.
      return this.host.error(res, 400, 60200, `Invalid parameter \`FactorType\`: ${body.FactorType ?? ''}`);
    }
    const config = this.configFrom(body, this.totp);
    if (!config) return this.host.error(res, 400, 60200, 'Invalid parameter `Config`');
    let secret = body['Binding.Secret'];
    if (secret !== undefined) {
      secret = secret.toUpperCase();
      if (!/^[A-Z2-7]{16,}=*$/.test(secret)) {
        return this.host.error(res, 400, 60200, 'Invalid parameter `Binding.Secret`');
      }
      for (const factor of this.factors.values()) {
        if (factor.identity === identity && factor.secret === secret && this.alive(factor)) {
          return this.host.error(res, 409, 60317, 'Factor already exists');
        }
      }
    } else {
      secret = new Secret({ size: 20 }).base32;
    }
    const entity = this.entityFor(identity);
    const now = this.host.now();
    const factor: StandInFactor = {
      sid: sid('YF'),
      entitySid: entity.sid,
      identity,
      friendlyName,
      secret,
      config,
      status: 'unverified',
      createdAt: now,
      updatedAt: now,
      failedAttempts: 0,
      lastStep: undefined,
    };
    this.factors.set(factor.sid, factor);
    const uri = new TOTP({
      issuer: this.totp.issuer,
      label: friendlyName,
      secret: Secret.fromBase32(secret),
      algorithm: config.alg.toUpperCase(),
      digits: config.code_length,
      period: config.time_step,
    }).toString();
    res.status(201).json({ ...this.factorJson(factor), binding: { secret, uri }, options: null });
  }

  private listFactors(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const identity = String(req.params.identity);
    const factors = [...this.factors.values()].filter((f) => f.identity === identity && this.alive(f));
    const url = `${this.url(`${identity}/Factors`)}?PageSize=50&Page=0`;
    res.json({
      factors: factors.map((factor) => this.factorJson(factor)),
      meta: {
        page: 0,
        page_size: 50,
        first_page_url: url,
        previous_page_url: null,
        url,
        next_page_url: null,
        key: 'factors',
      },
    });
  }

  private fetchFactor(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const factor = this.factorIn(req);
    if (!factor) return this.notFound(res, req);
    res.json(this.factorJson(factor));
  }

  private updateFactor(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const factor = this.factorIn(req);
    if (!factor) return this.notFound(res, req);
    const body = req.body as Body;
    const config = this.configFrom(body, factor.config);
    if (!config) return this.host.error(res, 400, 60200, 'Invalid parameter `Config`');
    const friendlyName = body.FriendlyName;
    if (friendlyName !== undefined && (!friendlyName || friendlyName.length > 64)) {
      return this.host.error(res, 400, 60200, 'Invalid parameter `FriendlyName`');
    }
    const payload = body.AuthPayload;
    if (payload !== undefined && factor.status === 'unverified') {
      if (factor.failedAttempts >= MAX_FACTOR_ATTEMPTS) {
        return this.host.error(res, 429, 60310, 'Factor verification attempts reached');
      }
      const step = this.matchingStep(factor, payload);
      if (step === undefined) {
        factor.failedAttempts += 1;
      } else {
        factor.status = 'verified';
        factor.lastStep = step;
      }
    }
    factor.config = config;
    if (friendlyName !== undefined) factor.friendlyName = friendlyName;
    factor.updatedAt = this.host.now();
    res.json(this.factorJson(factor));
  }

  private deleteFactor(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const factor = this.factorIn(req);
    if (!factor) return this.notFound(res, req);
    this.factors.delete(factor.sid);
    res.status(204).end();
  }

  // --- challenges ----------------------------------------------------------------------------

  /** Checks an AuthPayload against a pending challenge's factor, counting wrong codes. */
  private respond(challenge: StandInChallenge, factor: StandInFactor, payload: string): void {
    const now = this.host.now();
    challenge.updatedAt = now;
    const step = this.matchingStep(factor, payload);
    if (step === undefined) {
      challenge.failedAttempts += 1;
      return;
    }
    factor.lastStep = step;
    challenge.status = 'approved';
    challenge.respondedAt = now;
  }

  private createChallenge(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const identity = String(req.params.identity);
    const body = req.body as Body;
    const factorSid = body.FactorSid ?? '';
    if (!FACTOR_SID.test(factorSid)) {
      return this.host.error(res, 400, 60362, 'Factor SID invalid or not provided');
    }
    const factor = this.factors.get(factorSid);
    if (!factor || factor.identity !== identity || !this.alive(factor)) return this.notFound(res, req);
    if (factor.status !== 'verified') return this.host.error(res, 403, 60318, 'Factor is unverified');
    const payload = body.AuthPayload;
    if (payload !== undefined && (payload.length < 3 || payload.length > 8)) {
      return this.host.error(res, 400, 60200, 'Invalid parameter `AuthPayload`');
    }
    const now = this.host.now();
    let expiresAt = now + CHALLENGE_DEFAULT_TTL_MS;
    if (body.ExpirationDate !== undefined) {
      expiresAt = Date.parse(body.ExpirationDate);
      if (Number.isNaN(expiresAt) || expiresAt <= now || expiresAt > now + CHALLENGE_MAX_TTL_MS) {
        return this.host.error(res, 400, 60200, 'Invalid parameter `ExpirationDate`');
      }
    }
    let hiddenDetails: Record<string, string> | null = null;
    if (body.HiddenDetails !== undefined) {
      try {
        hiddenDetails = JSON.parse(body.HiddenDetails) as Record<string, string>;
      } catch {
        return this.host.error(res, 400, 60200, 'Invalid parameter `HiddenDetails`');
      }
    }
    const message = body['Details.Message'];
    const challenge: StandInChallenge = {
      sid: sid('YC'),
      factorSid,
      entitySid: factor.entitySid,
      identity,
      status: 'pending',
      createdAt: now,
      updatedAt: now,
      respondedAt: undefined,
      expiresAt,
      failedAttempts: 0,
      details: message === undefined ? null : { message, date: iso(now)!, fields: [] },
      hiddenDetails,
    };
    this.challenges.set(challenge.sid, challenge);
    if (payload !== undefined) this.respond(challenge, factor, payload);
    res.status(201).json(this.challengeJson(challenge));
  }

  private challengeIn(req: Request): StandInChallenge | undefined {
    const challenge = this.challenges.get(String(req.params.sid));
    if (!challenge || challenge.identity !== req.params.identity) return undefined;
    return this.refresh(challenge);
  }

  private fetchChallenge(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const challenge = this.challengeIn(req);
    if (!challenge) return this.notFound(res, req);
    res.json(this.challengeJson(challenge));
  }

  private updateChallenge(req: Request, res: Response): void {
    if (!this.host.knownService(req, res)) return;
    const challenge = this.challengeIn(req);
    if (!challenge) return this.notFound(res, req);
    const factor = this.factors.get(challenge.factorSid);
    if (!factor || !this.alive(factor)) return this.notFound(res, req);
    const payload = (req.body as Body).AuthPayload;
    if (payload === undefined || payload.length < 3 || payload.length > 8) {
      return this.host.error(res, 400, 60200, 'Invalid parameter `AuthPayload`');
    }
    if (challenge.status === 'expired') return this.host.error(res, 403, 60323, 'Challenge expired');
    if (challenge.status === 'pending') {
      if (challenge.failedAttempts >= MAX_CHALLENGE_ATTEMPTS) {
        return this.host.error(res, 429, 60308, 'Challenge verification attempts limit reached');
      }
      this.respond(challenge, factor, payload);
    }
    res.json(this.challengeJson(challenge));
  }
}
