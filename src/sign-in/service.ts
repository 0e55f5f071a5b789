// The sign-in state machine, the one owner of "who is signed in, and how":
//
//   password accepted ──(no factor)──────────────────────────────▶ signed in (method: password)
//          │
//          └─(factors)─▶ pending: the usual factor begins (a code goes out)
//                            │  resend / "Use another way" (another factor begins)
//                            │  "Use a recovery code" (a backup kind, answered as is)
//                            ▼
//                        factor verified ─(account still usable)─▶ signed in (method: the factor's)
//                            └─ "Don't ask again on this browser" ticked: the browser is remembered
//
//   password accepted ──(factors, a browser remembered for this account)──▶ signed in
//                                                  (method: password_and_remembered_browser)
//
//   a passkey alone (no password: it is held, and it verified the person) ─(account usable)─▶
//   signed in (method: passkey)
//
// The pending state grants nothing; it lives behind a small store (the session for pages, a
// signed token for the API) and is read again on every step, so that a lock, "sign out
// everywhere" or a removed factor since the password step ends the sign-in.
import type { AccountsService, RememberedBrowsers, SignInLimits, User, UserSessions } from '../accounts/index.js';
import type { AuditLog, RequestContext } from '../audit/index.js';
import { RateLimitedError } from '../core/rate-limits.js';
import {
  isPasskeyGuess,
  type Challenge,
  type FactorKind,
  type FactorRefusal,
  type FactorRegistry,
  type FactorsService,
  type FactorUse,
  type IssuedChallenge,
  type PasskeyChallenge,
  type PasskeyFactor,
  type PasskeyReason,
  type UserFactor,
} from '../factors/index.js';
import type { SignedInRepository } from './signed-in.js';

/** A signed-in person as the app sees them: the account and its factors, never the password hash. */
export interface Account {
  id: string;
  email: string;
  role: 'USER' | 'ADMIN';
  /** The account's session generation when this sign-in began: raising it ends the sign-in. */
  sessionGeneration: number;
  /** The person's factors, the one used last first, recovery codes included. */
  factors: UserFactor[];
  /** On while the person has a second factor: recovery codes alone are not one. */
  twoFactorEnabled: boolean;
  /** The person confirmed they receive mail at `email`. */
  emailVerified: boolean;
  /** The person asked for mail about each sign-in from a browser new to the account. */
  newBrowserNotices: boolean;
  /** The signed-in session of the pages this is (its row in user_sessions), once it began. */
  sessionId?: string;
}

/** Password accepted, factor not yet: grants nothing. */
export interface PendingSignIn {
  userId: string;
  /** The account's session generation at the password step. */
  generation: number;
  startedAt: number;
  remember: boolean;
  next: string;
  /** The factor the person is answering now (and its kind), and what its step remembers (codes sent, ...). */
  factorId: string;
  factorKind: string;
  /**
   * What each factor's step remembers, by factor id: switching ways and back finds the code
   * already sent to the first one still there.
   */
  challenges: Record<string, Challenge>;
  /**
   * Set when the factor step is not a sign-in but the proof a password reset asks of a person
   * with 2FA (the reset link's hash): passing it signs no one in.
   */
  passwordReset?: string;
}

/** Where a pending sign-in is kept between requests. */
export interface PendingSignInStore {
  /**
   * A fresh place for a new sign-in, once the password was right: pages give the session a new
   * ID, so that an ID planted before the password step is worth nothing.
   */
  renew(): Promise<void>;
  read(): PendingSignIn | undefined;
  write(pending: PendingSignIn): void;
  clear(): void;
}

/** Why a pending sign-in cannot go on; it is cleared, and the person starts again at the password. */
export type PendingEnd = 'none' | 'expired' | 'locked' | 'ended';

/** How a sign-in that skipped the second factor on a remembered browser is recorded. */
export const REMEMBERED_BROWSER_METHOD = 'password_and_remembered_browser';

/**
 * Whether "Don't ask again on this browser" is offered and honoured: never on a password reset's
 * step (a reset always asks for the second factor), and never for admins, whose every session
 * has passed a second factor (the admin area relies on it).
 */
export function mayRememberBrowser(account: Pick<Account, 'role'>, pending?: Pick<PendingSignIn, 'passwordReset'>) {
  return account.role !== 'ADMIN' && !pending?.passwordReset;
}

export type PasswordStep =
  | { ok: true; signedIn: Account; method: 'password' | typeof REMEMBERED_BROWSER_METHOD }
  /** A factor step began; `begun` says whether its first code or challenge went out. */
  | { ok: true; pending: PendingSignIn; account: Account; begun: { ok: true } | FactorRefusal }
  | { ok: false; reason: 'wrong_credentials' | 'locked' }
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

/** A pending sign-in read back and found still good: whose it is, and the factor being answered. */
export interface PendingStep {
  pending: PendingSignIn;
  account: Account;
  factor: UserFactor;
}

/** A browser remembered at the factor step: the token its cookie keeps, and until when. */
export interface BrowserRemembered {
  token: string;
  expiresAt: Date;
}

export type FactorStep =
  | {
      ok: true;
      signedIn: Account;
      method: string;
      remember: boolean;
      next: string;
      passwordReset?: string;
      rememberedBrowser?: BrowserRemembered;
    }
  | { ok: false; ended: PendingEnd }
  | (FactorRefusal & { ended?: undefined });

/**
 * A sign-in by a passkey alone. It counts as both factors: the passkey is held (hwk, RFC 8176)
 * and it verified the person (`user`: their fingerprint, face or PIN, which the authenticator
 * checked; which one it does not say).
 */
export type PasskeySignIn =
  | { ok: true; signedIn: Account; method: 'passkey'; amr: string[] }
  | FactorRefusal<PasskeyReason>
  /** An administrator locked the account. */
  | { ok: false; reason: 'account_locked' }
  /** Too many failed sign-ins from this IP. */
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

const PASSKEY_AMR = ['hwk', 'user'];

/** What comes with an answer to a factor step: "Don't ask again on this browser for 30 days" ticked. */
export interface AnswerOptions {
  rememberBrowser?: boolean;
}

/** `isBackup` tells the ways back in (recovery codes) from second factors (registry.isBackup). */
export function toAccount(
  user: User,
  factors: UserFactor[],
  isBackup: (factor: UserFactor) => boolean = () => false,
): Account {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    sessionGeneration: user.sessionGeneration,
    factors,
    twoFactorEnabled: factors.some((factor) => !isBackup(factor)),
    emailVerified: user.emailVerifiedAt !== null,
    newBrowserNotices: user.notifyNewBrowser,
  };
}

export function signInService(deps: {
  accounts: AccountsService;
  /** The signed-in sessions of the pages, each checked on every request. */
  sessions: Pick<UserSessions, 'staleBefore' | 'seen'>;
  /** The read of the signed-in person every signed-in request makes. */
  signedIn: SignedInRepository;
  factors: FactorsService;
  registry: FactorRegistry;
  audit: AuditLog;
  /** Passkeys, for signing in without a password. */
  passkeys: Pick<PasskeyFactor, 'passwordlessChallenge' | 'signInWithoutPassword'>;
  /** The per-IP limit of failed sign-ins, which failed passkey sign-ins count in too. */
  limits: Pick<SignInLimits, 'withoutPassword'>;
  /** Browsers where the second factor is not asked again ("Don't ask again on this browser"). */
  remembered: Pick<RememberedBrowsers, 'remember' | 'honour'>;
  /** How long the factor step may take after the password. */
  pendingLifetimeMs: number;
  now?: () => number;
}) {
  const { accounts, sessions, signedIn, factors, registry, audit, passkeys, limits, remembered, pendingLifetimeMs } =
    deps;
  const now = deps.now ?? Date.now;

  const isBackup = (factor: UserFactor) => registry.isBackup(factor);

  /**
   * A deleted or locked account ends its sign-ins, and so does a "sign out everywhere" or a
   * lock since the sign-in (a newer generation): read on every request, so none is missed.
   */
  const holds = (user: User | null, generation: number) =>
    Boolean(user && !user.lockedAt && user.sessionGeneration === generation);

  async function accountOf(user: User): Promise<Account> {
    return toAccount(user, await factors.list(user.id), isBackup);
  }

  const use = (pending: PendingSignIn, context: RequestContext): FactorUse => ({
    userId: pending.userId,
    purpose: 'sign_in',
    context,
  });

  function kindOf(factor: UserFactor): FactorKind {
    const kind = registry.kindOf(factor);
    if (!kind) throw new Error(`no factor kind ${factor.kind} is registered`);
    return kind;
  }

  /**
   * Begins `factor`'s step for the pending sign-in and keeps what it remembers. A switch to
   * another factor whose step could not begin (no code went out) is not made, unless that
   * factor's step already began in this sign-in: the person keeps a code they can use.
   */
  async function begin(
    store: PendingSignInStore,
    pending: PendingSignIn,
    factor: UserFactor,
    context: RequestContext,
    options: { via?: string; first?: boolean },
  ): Promise<{ switched: boolean; outcome: { ok: true } | FactorRefusal }> {
    const previous = pending.challenges[factor.id];
    const begun = await kindOf(factor).begin(factor, use(pending, context), previous, options);
    const challenges = { ...pending.challenges, [factor.id]: begun.challenge };
    const switching = factor.id !== pending.factorId;
    if (switching && !begun.outcome.ok && previous === undefined) {
      store.write({ ...pending, challenges });
      return { switched: false, outcome: begun.outcome };
    }
    store.write({ ...pending, factorId: factor.id, factorKind: factor.kind, challenges });
    return { switched: switching, outcome: begun.outcome };
  }

  /**
   * The pending sign-in, read back against the account as the database has it now; when it
   * cannot go on, it is cleared and the reason given. Read again right before the sign-in is
   * granted, so that a lock set meanwhile by an admin holds.
   */
  async function resume(
    store: PendingSignInStore,
    context: RequestContext,
  ): Promise<{ ok: true; step: PendingStep } | { ok: false; ended: PendingEnd }> {
    const pending = store.read();
    const end = (ended: PendingEnd) => {
      store.clear();
      return { ok: false as const, ended };
    };
    if (!pending) return { ok: false, ended: 'none' };
    if (now() - pending.startedAt > pendingLifetimeMs) return end('expired');
    // The account and its factors in one statement, as signedInAccount reads them.
    const found = await signedIn.read(pending.userId, null);
    if (!found) return end('ended');
    const { user } = found;
    const account = toAccount(user, found.factors, isBackup);
    const factor = account.factors.find((candidate) => candidate.id === pending.factorId);
    if (!factor) return end('ended');
    if (user.lockedAt) {
      await audit.record({ type: 'sign_in', outcome: 'locked', userId: user.id, context });
      return end('locked');
    }
    // Every session of the account was ended since the password step: this sign-in with them.
    if (user.sessionGeneration !== pending.generation) return end('ended');
    return { ok: true, step: { pending, account, factor } };
  }

  /**
   * The step `resumed` as this request read it, while the store still holds that very state
   * (nothing began or switched since): read again a moment later, the account would say the
   * same. Otherwise, or without it, read back (resume).
   */
  async function stepOf(
    store: PendingSignInStore,
    context: RequestContext,
    resumed: PendingStep | undefined,
  ): Promise<{ ok: true; step: PendingStep } | { ok: false; ended: PendingEnd }> {
    if (resumed && store.read() === resumed.pending) return { ok: true, step: resumed };
    return resume(store, context);
  }

  /**
   * Checks the answer to `factor` and, when it is right and the account can still sign in,
   * grants the sign-in (the pending state is cleared) and, when the person asked, remembers the
   * browser. A password reset's step never does: a reset always asks for the second factor.
   */
  async function answered(
    store: PendingSignInStore,
    context: RequestContext,
    pending: PendingSignIn,
    factor: UserFactor,
    challenge: Challenge | undefined,
    answer: string,
    options: AnswerOptions,
  ): Promise<FactorStep> {
    const kind = kindOf(factor);
    if (kind.singleUseChallenge) {
      // Forgotten before the answer is checked: whatever comes of it, it is not answered again.
      const { [factor.id]: _used, ...others } = pending.challenges;
      store.write({ ...pending, challenges: others });
    }
    const verified = await kind.verify(factor, use(pending, context), challenge, answer);
    if (!verified.ok) {
      // A new challenge for the next try, on the step's own factor.
      const current = kind.singleUseChallenge ? store.read() : undefined;
      if (current && current.factorId === factor.id) await begin(store, current, factor, context, {});
      return verified;
    }
    // Read again: an admin may have locked the account while the code was on its way.
    const again = await resume(store, context);
    if (!again.ok) return again;
    store.clear();
    await factors.markUsed(factor);
    const rememberedBrowser =
      options.rememberBrowser && mayRememberBrowser(again.step.account, pending)
        ? await remembered.remember(again.step.account, context)
        : undefined;
    return {
      ok: true,
      signedIn: again.step.account,
      method: kind.signInMethod,
      remember: pending.remember,
      next: pending.next,
      ...(pending.passwordReset ? { passwordReset: pending.passwordReset } : {}),
      ...(rememberedBrowser ? { rememberedBrowser } : {}),
    };
  }

  /** The pending state of a factor step that starts now, with the person's usual factor. */
  function pendingFor(account: Account, fields: Pick<PendingSignIn, 'remember' | 'next' | 'passwordReset'>) {
    // A way back in (recovery codes) is never the usual factor, even when used last.
    const usual = account.factors.find((factor) => !registry.isBackup(factor));
    if (!usual) return undefined;
    const pending: PendingSignIn = {
      userId: account.id,
      generation: account.sessionGeneration,
      startedAt: now(),
      ...fields,
      factorId: usual.id,
      factorKind: usual.kind,
      challenges: {},
    };
    return { pending, usual };
  }

  return {
    now,

    /** Whether a sign-in of `generation` still holds, reading the account alone (an API token's check). */
    async signInHolds(userId: string, generation: number): Promise<boolean> {
      return holds(await accounts.findUser(userId), generation);
    },

    /**
     * The signed-in account, or undefined when its sign-in no longer holds. A session of the
     * pages names its row (`sessionId`), read with the account and its factors in one statement:
     * a session signed out from elsewhere has none. `null` for an API sign-in, which its
     * refresh-token family stands for.
     */
    async signedInAccount(userId: string, generation: number, sessionId: string | null): Promise<Account | undefined> {
      const found = await signedIn.read(
        userId,
        sessionId === null ? null : { id: sessionId, staleBefore: sessions.staleBefore() },
      );
      if (!found) return undefined;
      // Last seen moves on at most once a minute, not on every request.
      if (sessionId !== null && found.stale) await sessions.seen(sessionId);
      if (!holds(found.user, generation)) return undefined;
      return { ...toAccount(found.user, found.factors, isBackup), ...(sessionId === null ? {} : { sessionId }) };
    },

    /**
     * The password step. Without a factor the person is signed in; with factors, on a browser
     * remembered for this account (`rememberedBrowser`: the tokens its cookie holds; the API
     * passes none) too; otherwise the usual factor (the one used last) begins: for a phone, its
     * first code goes out. The API passes `begin: false`: its client asks for a challenge of the
     * factor it chooses.
     */
    async password(
      store: PendingSignInStore,
      input: { email: string; password: string; remember: boolean; next: string; rememberedBrowser?: string[] },
      context: RequestContext,
      options: { begin?: boolean } = {},
    ): Promise<PasswordStep> {
      const authenticated = await accounts.authenticate(input.email, input.password, context);
      if (!authenticated.ok) return authenticated;
      const account = await accountOf(authenticated.user);
      const started = pendingFor(account, { remember: input.remember, next: input.next });
      if (!started) return { ok: true, signedIn: account, method: 'password' };
      // `account` was read before the token: whatever forgot it since (a new generation) also
      // ends the session this sign-in starts (src/accounts/user-sessions.ts).
      if (
        input.rememberedBrowser?.length &&
        mayRememberBrowser(account) &&
        (await remembered.honour(account.id, input.rememberedBrowser, context))
      )
        return { ok: true, signedIn: account, method: REMEMBERED_BROWSER_METHOD };
      const { pending, usual } = started;
      await store.renew();
      if (options.begin === false) {
        store.write(pending);
        return { ok: true, pending, account, begun: { ok: true } };
      }
      const { outcome } = await begin(store, pending, usual, context, { first: true });
      return { ok: true, pending: store.read() ?? pending, account, begun: outcome };
    },

    resume,

    /** A challenge for "Sign in with a passkey"; the caller keeps it (bound to the browser) for its answer. */
    passkeyChallenge: (): Promise<PasskeyChallenge> => passkeys.passwordlessChallenge(),

    /**
     * Signs in with a passkey alone, answering `challenge`: within the per-IP limit of failed
     * sign-ins (a guess counts, a browser's mishap does not), then by the rules of any sign-in:
     * a deleted account's passkeys are gone, a locked account is refused. Nothing pending: the
     * caller starts the signed-in session at once.
     */
    async passkey(
      input: { challenge: IssuedChallenge | undefined; answer: string },
      context: RequestContext,
    ): Promise<PasskeySignIn> {
      let passed;
      try {
        passed = await limits.withoutPassword(
          context.ip,
          () => passkeys.signInWithoutPassword(input.challenge, input.answer, context),
          (outcome) => !outcome.ok && isPasskeyGuess(outcome.reason),
        );
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        await audit.record({ type: 'rate_limited', outcome: 'refused', context, detail: { rule: error.rule } });
        return { ok: false, reason: 'rate_limited', retryAfterSeconds: error.retryAfterSeconds };
      }
      if (!passed.ok) return passed;
      const user = await accounts.findUser(passed.userId);
      const account = user && (await accountOf(user));
      // Removed (with its account, or alone) since the answer was judged.
      const factor = account?.factors.find((one) => one.id === passed.factorId);
      if (!user || !account || !factor) return { ok: false, reason: 'unknown_passkey' };
      if (user.lockedAt) {
        await audit.record({
          type: 'sign_in',
          outcome: 'locked',
          userId: user.id,
          context,
          detail: { method: 'passkey' },
        });
        return { ok: false, reason: 'account_locked' };
      }
      await factors.markUsed(factor);
      return { ok: true, signedIn: account, method: 'passkey', amr: PASSKEY_AMR };
    },

    /**
     * The second factor a password reset asks of a person with 2FA, before the new password is
     * taken: the same step as a sign-in's (limits, audit, "Use another way", recovery codes),
     * marked with the reset link's hash, so passing it proves the factor for that link alone
     * and signs no one in. Undefined when the person has no second factor (anymore).
     */
    async secondFactorForReset(
      store: PendingSignInStore,
      userId: string,
      input: { linkHash: string; next: string },
      context: RequestContext,
    ): Promise<{ pending: PendingSignIn; begun: { ok: true } | FactorRefusal } | undefined> {
      const user = await accounts.findUser(userId);
      if (!user) return undefined;
      const started = pendingFor(await accountOf(user), {
        remember: false,
        next: input.next,
        passwordReset: input.linkHash,
      });
      if (!started) return undefined;
      await store.renew();
      const { outcome } = await begin(store, started.pending, started.usual, context, { first: true });
      return { pending: store.read() ?? started.pending, begun: outcome };
    },

    /**
     * Begins the current factor's step again (phone: "Resend code" by text, "Call me instead").
     * `first` marks the step's first begin (the API's first challenge), which goes out whatever
     * cooldown a code sent for another sign-in started.
     */
    async again(
      store: PendingSignInStore,
      context: RequestContext,
      via: string,
      options: { first?: boolean } = {},
    ): Promise<
      { ok: true; step: PendingStep; begun: { ok: true } | FactorRefusal } | { ok: false; ended: PendingEnd }
    > {
      const resumed = await resume(store, context);
      if (!resumed.ok) return resumed;
      const { pending, factor } = resumed.step;
      const first = options.first === true && pending.challenges[factor.id] === undefined;
      const { outcome } = await begin(store, pending, factor, context, { via, first });
      return { ok: true, step: { ...resumed.step, pending: store.read() ?? pending }, begun: outcome };
    },

    /**
     * "Use another way": the person picks another of their factors, and for a kind with several
     * ways, which (phone: `sms` or `call`); it begins.
     */
    async choose(
      store: PendingSignInStore,
      context: RequestContext,
      factorId: string,
      via?: string,
      options: { first?: boolean } = {},
    ): Promise<
      /** `switched`: the chosen factor is now the one being answered (a refused begin switches only to a factor whose step began before). */
      | { ok: true; pending: PendingSignIn; chosen: UserFactor; switched: boolean; begun: { ok: true } | FactorRefusal }
      | { ok: false; ended: PendingEnd | 'no_such_factor' }
    > {
      const resumed = await resume(store, context);
      if (!resumed.ok) return resumed;
      const { pending, account } = resumed.step;
      // A way back in is not chosen: it is answered from its own page (verifyBackup).
      const chosen = account.factors.find((factor) => factor.id === factorId && !registry.isBackup(factor));
      if (!chosen) return { ok: false, ended: 'no_such_factor' };
      if (chosen.id === pending.factorId) return { ok: true, pending, chosen, switched: false, begun: { ok: true } };
      // Within the resend cooldown like any other send: switching ways is no way around it.
      const first = options.first === true && pending.challenges[chosen.id] === undefined;
      const { switched, outcome } = await begin(store, pending, chosen, context, { ...(via ? { via } : {}), first });
      return { ok: true, pending: store.read() ?? pending, chosen, switched, begun: outcome };
    },

    /**
     * Checks the person's answer to the current factor; when it is right and the account can
     * still sign in, the sign-in is granted (and recorded) and the pending state cleared. The
     * account is read again after the check whatever `step` (what this request resumed) says.
     */
    async verify(
      store: PendingSignInStore,
      context: RequestContext,
      answer: string,
      options: AnswerOptions = {},
      step?: PendingStep,
    ): Promise<FactorStep> {
      const resumed = await stepOf(store, context, step);
      if (!resumed.ok) return resumed;
      const { pending, factor } = resumed.step;
      return answered(store, context, pending, factor, pending.challenges[factor.id], answer, options);
    },

    /**
     * Checks an answer to one of the person's ways back in (recovery codes), whatever factor the
     * step is on: such a kind needs no begin, so the step's own factor and what it remembers
     * (codes sent) stay as they are when the answer is wrong.
     */
    async verifyBackup(
      store: PendingSignInStore,
      context: RequestContext,
      factorId: string,
      answer: string,
      options: AnswerOptions = {},
      step?: PendingStep,
    ): Promise<FactorStep | { ok: false; ended: 'no_such_factor' }> {
      const resumed = await stepOf(store, context, step);
      if (!resumed.ok) return resumed;
      const { pending, account } = resumed.step;
      const backup = account.factors.find((factor) => factor.id === factorId && registry.isBackup(factor));
      if (!backup) return { ok: false, ended: 'no_such_factor' };
      return answered(store, context, pending, backup, undefined, answer, options);
    },

    /**
     * Records a finished sign-in (the web then starts the signed-in session; the API issues
     * tokens): `through` the API, or from the pages' `browser` (a hash of the browser's own id).
     */
    recordSignIn(
      account: Account,
      method: string,
      context: RequestContext,
      from: { through: 'api' } | { browser: string },
      amr?: string[],
    ): Promise<void> {
      const detail = { method, ...from, ...(amr ? { amr: amr.join(' ') } : {}) };
      return audit.record({ type: 'sign_in', outcome: 'ok', userId: account.id, context, detail });
    },

    /** Leaves the pending sign-in ("Cancel"). */
    cancel(store: PendingSignInStore): void {
      store.clear();
    },
  };
}

export type SignInService = ReturnType<typeof signInService>;
