// The soak's mixed traffic: what people do on the site, each journey as one visitor, with the
// checks that catch a broken promise on the way (someone let in who should not be).
import type http from 'node:http';
import type { TwilioStandIn } from '../twilio-stand-in/stand-in.js';
import type { Ledger } from './ledger.js';
import { NoAnswer, Visitor, type Answer } from '../../test/support/visitor.js';

export interface Account {
  email: string;
  password: string;
  /** E.164; codes for this account go here once an enrolment was tried. */
  phone: string;
  /** Whether an enrolment was ever tried: 2FA may be on from then on. */
  enrolmentTried: boolean;
}

const PAGES = ['/', '/login', '/signup'];
const PASSWORD = 'correct horse battery staple';

/** Accounts not in use by a journey; a journey takes one for itself and gives it back. */
class AccountPool {
  private readonly idle: Account[] = [];

  take(wanted: (account: Account) => boolean): Account | undefined {
    const candidates = this.idle.flatMap((account, index) => (wanted(account) ? [index] : []));
    if (!candidates.length) return undefined;
    const index = candidates[Math.floor(Math.random() * candidates.length)]!;
    return this.idle.splice(index, 1)[0];
  }

  give(account: Account): void {
    this.idle.push(account);
  }
}

/** A code that is not `code`: what someone guessing would type. */
function otherCode(code: string | undefined): string {
  return String((Number(code ?? '0') + 1) % 1_000_000).padStart(6, '0');
}

/** A redirect after a wrong password or code may only lead back to the sign-in page. */
function letIn(answer: Answer): boolean {
  return answer.status === 303 && !(answer.location ?? '').startsWith('/login');
}

export class Traffic {
  private readonly accounts = new AccountPool();
  private serial = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly agent: http.Agent,
    private readonly ledger: Ledger,
    private readonly standIn: TwilioStandIn,
  ) {}

  /** One journey, picked at random; a request left unanswered ends it (the ledger has it). */
  async journey(): Promise<void> {
    const roll = Math.random();
    try {
      if (roll < 0.25) await this.signUp();
      else if (roll < 0.45) await this.browse();
      else if (roll < 0.6) await this.enrol();
      else if (roll < 0.75) await this.wrongPassword();
      else await this.signInWithCodes();
    } catch (error) {
      if (!(error instanceof NoAnswer)) throw error;
    }
  }

  private visitor(): Visitor {
    return new Visitor(this.baseUrl, this.agent, (outcome) => this.ledger.record(outcome));
  }

  private nextPhone(): string {
    return `+3361${String(this.serial).padStart(7, '0')}`;
  }

  private async browse(): Promise<void> {
    await this.visitor().get(PAGES[Math.floor(Math.random() * PAGES.length)]!);
  }

  private async signUp(): Promise<void> {
    this.serial += 1;
    const account = {
      email: `soak.${process.pid}.${this.serial}@example.com`,
      password: PASSWORD,
      phone: this.nextPhone(),
      enrolmentTried: false,
    };
    const visitor = this.visitor();
    const answer = await visitor.submit('/signup', '/signup', {
      email: account.email,
      password: PASSWORD,
      passwordConfirmation: PASSWORD,
    });
    if (answer.status !== 303) return;
    this.ledger.signedUp.add(account.email);
    this.accounts.give(account);
    await visitor.get('/account');
  }

  /** Signs in with the right password; follows the code step when 2FA turns out to be on. */
  private async signIn(visitor: Visitor, account: Account): Promise<boolean> {
    const answer = await visitor.submit('/login', '/login', { email: account.email, password: account.password });
    if (answer.status !== 303) return false;
    if (answer.location !== '/login/2fa') return true;
    const entered = await visitor.submit('/login/2fa', '/login/2fa', {
      code: this.standIn.lastCodeFor(account.phone) ?? '',
    });
    return letIn(entered);
  }

  private async csrfToken(visitor: Visitor, page: string): Promise<string> {
    const answer = await visitor.get(page);
    return /name="_csrf" value="([^"]+)"/.exec(answer.body)?.[1] ?? '';
  }

  private async withAccount(
    wanted: (account: Account) => boolean,
    use: (account: Account) => Promise<void>,
  ): Promise<void> {
    const account = this.accounts.take(wanted);
    if (!account) return this.signUp();
    try {
      await use(account);
    } finally {
      this.accounts.give(account);
    }
  }

  private enrol(): Promise<void> {
    return this.withAccount(
      (account) => !account.enrolmentTried,
      async (account) => {
        const visitor = this.visitor();
        if (!(await this.signIn(visitor, account))) return;
        const confirmed = await visitor.submit('/account/confirm-password', '/account/confirm-password', {
          password: account.password,
        });
        if (confirmed.status !== 303) return;
        account.enrolmentTried = true;
        const sent = await visitor.submit('/account/2fa', '/account/2fa', { phone: account.phone, country: 'FR' });
        if (sent.status !== 303) return;
        const code = this.standIn.lastCodeFor(account.phone) ?? '';
        const verified = await visitor.submit('/account/2fa/verify', '/account/2fa/verify', { code });
        // The first factor leads to the recovery codes, shown once; a later one to the account page.
        const enrolled = verified.location === '/account/recovery-codes' || verified.location === '/account';
        if (verified.status === 303 && enrolled) this.ledger.enrolled.add(account.email);
        await visitor.get('/account');
        await visitor.post('/logout', { _csrf: await this.csrfToken(visitor, '/account') });
      },
    );
  }

  private wrongPassword(): Promise<void> {
    return this.withAccount(
      () => true,
      async (account) => {
        const visitor = this.visitor();
        const answer = await visitor.submit('/login', '/login', {
          email: account.email,
          password: `${account.password} (wrong)`,
        });
        await this.mustBeOutside(visitor, answer, `a wrong password for ${account.email}`);
      },
    );
  }

  private signInWithCodes(): Promise<void> {
    return this.withAccount(
      (account) => account.enrolmentTried,
      async (account) => {
        const visitor = this.visitor();
        const password = await visitor.submit('/login', '/login', { email: account.email, password: account.password });
        if (password.status === 303 && password.location === '/login/2fa') {
          const guess = otherCode(this.standIn.lastCodeFor(account.phone));
          const wrong = await visitor.submit('/login/2fa', '/login/2fa', { code: guess });
          await this.mustBeOutside(visitor, wrong, `a wrong code for ${account.email}`);
          const right = await visitor.submit('/login/2fa', '/login/2fa', {
            code: this.standIn.lastCodeFor(account.phone) ?? '',
          });
          if (!letIn(right)) return;
        } else if (password.status !== 303) {
          return;
        }
        await visitor.get('/account');
        await visitor.post('/logout', { _csrf: await this.csrfToken(visitor, '/account') });
      },
    );
  }

  /** After a wrong password or code, neither the answer nor the account page may let anyone in. */
  private async mustBeOutside(visitor: Visitor, answer: Answer, what: string): Promise<void> {
    if (letIn(answer)) this.ledger.wrongEntries.push(`${what} was answered ${answer.status} to ${answer.location}`);
    const account = await visitor.get('/account');
    if (account.status === 200) this.ledger.wrongEntries.push(`after ${what}, /account answered 200`);
  }
}
