// Account self-service over real HTTP and real SMTP (a loopback relay): "Forgot password?" and
// the reset link (single use, voided by a newer one and by a password change, never past the
// second factor), "Change password", email verification and change, security notices, and a
// relay that is down. Nothing may tell whether an email has an account.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TwilioStandIn } from '../../tools/twilio-stand-in/stand-in.js';
import {
  confirmPassword,
  csrfTokenIn,
  signIn,
  signUp,
  startTestApp,
  strongPassword,
  submitForm,
  uniqueEmail,
  type Agent,
  type TestApp,
} from '../support/app.js';
import request from 'supertest';
import { eventually } from '../support/eventually.js';
import { assertDescribed } from '../support/openapi.js';
import { linkIn, startMailCatcher, type MailCatcher } from '../support/mail.js';
import { startAppOnTwilio, startTwilioStandIn, turnOnTwoFactor } from '../support/twilio.js';

const newPassword = 'purple elephant kitchen radio';

let phoneCounter = 0;
const nextMobile = () => `+3361288${String((phoneCounter += 1)).padStart(4, '0')}`;

/** For a describe block: a loopback SMTP relay, the Twilio stand-in and an app sending to both. */
function appWithMail(env: Record<string, string> = {}) {
  const running = {} as { mail: MailCatcher; standIn: TwilioStandIn; app: TestApp };
  before(async () => {
    running.mail = await startMailCatcher();
    running.standIn = await startTwilioStandIn();
    running.app = await startAppOnTwilio(running.standIn, { env: { SMTP_URL: running.mail.url, ...env } });
  });
  after(async () => {
    await running.app?.close();
    await running.standIn?.stop();
    await running.mail?.close();
  });
  return running;
}

describe('account self-service by email', () => {
  const running = appWithMail({ MAIL_FROM: 'Tests <no-reply@example.com>' });
  let mail: MailCatcher;
  let standIn: TwilioStandIn;
  let app: TestApp;
  before(() => ({ mail, standIn, app } = running));

  const prisma = () => app.services.database.prisma;

  /** Posts the form on `path` (its own CSRF token) to the same path. */
  const postForm = (agent: Agent, path: string, fields: Record<string, string> = {}) =>
    submitForm(agent, path, path, fields);

  async function askForReset(email: string, agent = app.agent()) {
    return postForm(agent, '/forgot-password', { email });
  }

  /** The reset link the latest reset mail to `email` holds. */
  async function resetLink(email: string): Promise<string> {
    return linkIn(await mail.waitFor(email, 'Reset your password'), '/reset-password/');
  }

  const isSignedIn = async (agent: Agent) => (await agent.get('/account')).status === 200;

  describe('forgot password', () => {
    it('answers the same for an address with and without an account, and mails only the account', async () => {
      const { email } = await signUp(app.agent());
      const stranger = uniqueEmail('nobody');
      const known = await askForReset(email);
      const unknown = await askForReset(stranger);
      assert.equal(known.status, 200);
      assert.equal(unknown.status, 200);
      // The page shows the address typed, and otherwise says the very same thing.
      assert.equal(
        known.text.replaceAll(email, 'X'),
        unknown.text.replaceAll(stranger, 'X').replace(/value="[^"]+"/g, ''),
      );
      await resetLink(email);
      // The login page links here, by the contract's words.
      assert.match((await app.agent().get('/login')).text, /<a href="\/forgot-password">Forgot password\?<\/a>/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(mail.to(stranger).length, 0);
    });

    it('resets the password once, signs out every session, and the old password stops working', async () => {
      const signedInElsewhere = app.agent();
      const { email } = await signUp(signedInElsewhere);
      assert.ok(await isSignedIn(signedInElsewhere));
      await askForReset(email);
      const link = await resetLink(email);
      const browser = app.agent();
      const page = await browser.get(link).expect(200);
      assert.match(page.text, /New password/);
      assert.match(page.text, /Confirm new password/);
      assert.match(page.text, />Change password</);
      const done = await postForm(browser, link, { password: newPassword, passwordConfirmation: newPassword });
      assert.equal(done.status, 303);
      assert.equal(done.headers.location, '/login');
      assert.equal(await isSignedIn(signedInElsewhere), false, 'a session from before the reset ends');
      assert.equal(await isSignedIn(browser), false, 'a reset signs no one in');
      assert.equal((await signIn(app.agent(), email, strongPassword)).status, 401);
      assert.equal((await signIn(app.agent(), email, newPassword)).status, 303);
      // Used: the link is gone for good.
      assert.equal((await app.agent().get(link)).status, 410);
      await mail.waitFor(email, 'Your password was changed');
    });

    it('refuses a weak new password and keeps the link usable', async () => {
      const { email } = await signUp(app.agent());
      await askForReset(email);
      const link = await resetLink(email);
      const agent = app.agent();
      const weak = await postForm(agent, link, { password: 'password', passwordConfirmation: 'password' });
      assert.equal(weak.status, 422);
      const mismatch = await postForm(agent, link, { password: newPassword, passwordConfirmation: 'something else' });
      assert.equal(mismatch.status, 422);
      assert.match(mismatch.text, /do not match/);
      assert.equal(
        (await postForm(agent, link, { password: newPassword, passwordConfirmation: newPassword })).status,
        303,
      );
    });

    it('a newer request voids the older link, and a password change voids any', async () => {
      const agent = app.agent();
      const { email } = await signUp(agent);
      await askForReset(email);
      const first = await resetLink(email);
      await askForReset(email);
      await eventually(
        () => Promise.resolve(mail.to(email).filter((m) => m.subject === 'Reset your password').length === 2),
        'the second mail',
      );
      const second = await resetLink(email);
      assert.notEqual(first, second);
      assert.equal((await app.agent().get(first)).status, 410);
      assert.equal((await app.agent().get(second)).status, 200);
      const changed = await postForm(agent, '/account/password', {
        currentPassword: strongPassword,
        password: newPassword,
        passwordConfirmation: newPassword,
      });
      assert.equal(changed.status, 303);
      assert.equal((await app.agent().get(second)).status, 410);
    });

    it('two uses of one link at once: exactly one sets its password', async () => {
      const { email } = await signUp(app.agent());
      await askForReset(email);
      const link = await resetLink(email);
      const agents = [app.agent(), app.agent(), app.agent(), app.agent()];
      const tokens = await Promise.all(agents.map(async (agent) => csrfTokenIn((await agent.get(link)).text)));
      const passwords = agents.map((_, index) => `${newPassword} ${index}`);
      const answers = await Promise.all(
        agents.map((agent, index) =>
          agent
            .post(link)
            .type('form')
            .send({ _csrf: tokens[index], password: passwords[index], passwordConfirmation: passwords[index] }),
        ),
      );
      const winners = answers
        .map((answer, index) => (answer.status === 303 ? index : -1))
        .filter((index) => index >= 0);
      assert.equal(winners.length, 1, `statuses: ${answers.map((a) => a.status).join(',')}`);
      for (const answer of answers) if (answer.status !== 303) assert.equal(answer.status, 410);
      assert.equal((await signIn(app.agent(), email, passwords[winners[0]!]!)).status, 303);
    });

    it('parallel requests leave one live link', async () => {
      const { email } = await signUp(app.agent());
      const answers = await Promise.all([1, 2, 3].map(() => askForReset(email)));
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [200, 200, 200],
      );
      const user = await prisma().user.findUniqueOrThrow({ where: { email } });
      assert.equal(await prisma().emailToken.count({ where: { userId: user.id, purpose: 'password_reset' } }), 1);
    });

    it('keeps the link out of the request log', async () => {
      const logs: Array<Record<string, unknown>> = [];
      const logged = await startTestApp({ logs, env: { SMTP_URL: mail.url } });
      try {
        const { email } = await signUp(logged.agent());
        await postForm(logged.agent(), '/forgot-password', { email });
        const link = await resetLink(email);
        await logged.agent().get(link).expect(200);
        const token = link.split('/').at(-1)!;
        await eventually(
          () => Promise.resolve(logs.some((line) => JSON.stringify(line).includes('/reset-password/'))),
          'the request for the link is logged',
        );
        assert.ok(!logs.some((line) => JSON.stringify(line).includes(token)), 'no line holds the token');
      } finally {
        await logged.close();
      }
    });

    it('is limited per address, whether or not it has an account', async () => {
      const stranger = uniqueEmail('limited');
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await askForReset(stranger)).status);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
    });
  });

  describe('a reset with two-factor authentication on', () => {
    async function personWithTwoFactor() {
      const agent = app.agent();
      const { email } = await signUp(agent);
      await turnOnTwoFactor(agent, standIn, nextMobile());
      return { email, agent };
    }

    it('asks for the second factor before the new password is taken, and signs no one in', async () => {
      const { email } = await personWithTwoFactor();
      await askForReset(email);
      const link = await resetLink(email);
      const browser = app.agent();
      const page = await browser.get(link).expect(200);
      assert.match(page.text, /Confirm it is you/);
      assert.doesNotMatch(page.text, /New password/);
      // Straight to the new password, without the factor: nothing changes.
      const token = csrfTokenIn(page.text);
      const skipped = await browser
        .post(link)
        .type('form')
        .send({ _csrf: token, password: newPassword, passwordConfirmation: newPassword });
      assert.equal(skipped.status, 303);
      assert.equal(skipped.headers.location, link);
      assert.equal((await signIn(app.agent(), email, newPassword)).status, 401);

      const continued = await browser
        .post(`${link}/second-factor`)
        .type('form')
        .send({ _csrf: csrfTokenIn((await browser.get(link)).text) });
      assert.equal(continued.headers.location, '/login/2fa');
      const sentTo = standIn.outbox.at(-1)!.to;
      const step = (await browser.get('/login/2fa').expect(200)).text;
      assert.match(step, /before choosing a new password/);
      assert.doesNotMatch(step, /Don't ask again on this browser/, 'a reset always asks: it offers no remembering');
      const wrong = await postForm(browser, '/login/2fa', { code: '000000' });
      assert.notEqual(wrong.status, 303);
      // Sent anyway, the box is not honoured.
      const right = await postForm(browser, '/login/2fa', {
        code: standIn.lastCodeFor(sentTo)!,
        rememberBrowser: 'on',
      });
      assert.equal(right.status, 303);
      assert.ok(!String(right.headers['set-cookie'] ?? '').includes('tfa.remember='), 'no browser remembered');
      assert.equal(await prisma().rememberedBrowser.count({ where: { user: { email } } }), 0);
      assert.equal(right.headers.location, link);
      assert.equal(await isSignedIn(browser), false, 'passing the factor for a reset signs no one in');
      const form = await browser.get(link).expect(200);
      assert.match(form.text, /New password/);
      const done = await postForm(browser, link, { password: newPassword, passwordConfirmation: newPassword });
      assert.equal(done.status, 303);
      // The next sign-in still asks for the second factor.
      const again = await signIn(app.agent(), email, newPassword);
      assert.equal(again.headers.location, '/login/2fa');
    });

    it("a factor passed for one link does not open another person's link", async () => {
      const first = await personWithTwoFactor();
      const second = await personWithTwoFactor();
      await askForReset(first.email);
      await askForReset(second.email);
      const firstLink = await resetLink(first.email);
      const secondLink = await resetLink(second.email);
      const browser = app.agent();
      await browser.get(firstLink).expect(200);
      await browser
        .post(`${firstLink}/second-factor`)
        .type('form')
        .send({ _csrf: csrfTokenIn((await browser.get(firstLink)).text) });
      const sentTo = standIn.outbox.at(-1)!.to;
      assert.equal((await postForm(browser, '/login/2fa', { code: standIn.lastCodeFor(sentTo)! })).status, 303);
      const other = await browser.get(secondLink).expect(200);
      assert.match(other.text, /Confirm it is you/);
      const tried = await browser
        .post(secondLink)
        .type('form')
        .send({ _csrf: csrfTokenIn(other.text), password: newPassword, passwordConfirmation: newPassword });
      assert.equal(tried.headers.location, secondLink);
      assert.equal((await signIn(app.agent(), second.email, newPassword)).status, 401);
    });
  });

  describe('change password', () => {
    it('asks for the current password, keeps this session, ends the others, and mails the owner', async () => {
      const here = app.agent();
      const { email } = await signUp(here);
      const there = app.agent();
      await signIn(there, email, strongPassword);
      assert.ok(await isSignedIn(there));
      const account = await here.get('/account').expect(200);
      assert.match(account.text, /<a href="\/account\/password">Change password<\/a>/);
      const page = await here.get('/account/password').expect(200);
      for (const label of ['Current password', 'New password', 'Confirm new password'])
        assert.match(page.text, new RegExp(`>${label}<`));
      const wrong = await postForm(here, '/account/password', {
        currentPassword: 'not it at all',
        password: newPassword,
        passwordConfirmation: newPassword,
      });
      assert.equal(wrong.status, 401);
      assert.match(wrong.text, /not your current password/);
      const done = await postForm(here, '/account/password', {
        currentPassword: strongPassword,
        password: newPassword,
        passwordConfirmation: newPassword,
      });
      assert.equal(done.status, 303);
      assert.equal(done.headers.location, '/account');
      assert.ok(await isSignedIn(here), 'this session stays');
      assert.equal(await isSignedIn(there), false, 'the other session ends');
      assert.equal((await signIn(app.agent(), email, newPassword)).status, 303);
      const notice = await mail.waitFor(email, 'Your password was changed');
      assert.match(notice.text, /was changed/);
    });

    it('counts wrong current passwords toward the account lock', async () => {
      const agent = app.agent();
      const { email } = await signUp(agent);
      for (let i = 0; i < 5; i += 1)
        await postForm(agent, '/account/password', {
          currentPassword: `wrong ${i} guess`,
          password: newPassword,
          passwordConfirmation: newPassword,
        });
      // Locked now, even for the right password, here and at sign-in.
      const locked = await postForm(agent, '/account/password', {
        currentPassword: strongPassword,
        password: newPassword,
        passwordConfirmation: newPassword,
      });
      assert.equal(locked.status, 429);
      assert.equal((await signIn(app.agent(), email, strongPassword)).status, 429);
    });
  });

  describe('email verification', () => {
    it('mails a link at sign-up; the account page says verified once it is used', async () => {
      const agent = app.agent();
      const { email } = await signUp(agent);
      assert.match((await agent.get('/account')).text, /Email: not verified/);
      const link = linkIn(await mail.waitFor(email, 'Confirm your email address'), '/verify-email/');
      // Opening the link (as a mail scanner does) changes nothing; the button does.
      const page = await app.agent().get(link).expect(200);
      assert.match((await agent.get('/account')).text, /Email: not verified/);
      const confirmed = await app
        .agent()
        .post(link)
        .type('form')
        .send({ _csrf: csrfTokenIn(page.text) });
      assert.equal(confirmed.status, 403, 'the form token of another browser is refused');
      const browser = app.agent();
      assert.equal((await postForm(browser, link)).status, 303);
      assert.match((await agent.get('/account')).text, /Email: verified/);
      assert.equal((await app.agent().get(link)).status, 410);
    });

    it('"Send the link again" sends a new link and voids the old one', async () => {
      const agent = app.agent();
      const { email } = await signUp(agent);
      const first = linkIn(await mail.waitFor(email, 'Confirm your email address'), '/verify-email/');
      const account = await agent.get('/account').expect(200);
      assert.match(account.text, /Send the link again/);
      await agent
        .post('/account/email/verify')
        .type('form')
        .send({ _csrf: csrfTokenIn(account.text) })
        .expect(303);
      await eventually(
        () => Promise.resolve(mail.to(email).filter((m) => m.subject === 'Confirm your email address').length === 2),
        'a second link',
      );
      const second = linkIn(await mail.waitFor(email, 'Confirm your email address'), '/verify-email/');
      assert.notEqual(first, second);
      assert.equal((await app.agent().get(first)).status, 410);
      assert.equal((await postForm(app.agent(), second)).status, 303);
    });
  });

  describe('change of email', () => {
    it('takes effect only once the new address confirms it; the old one is told', async () => {
      const agent = app.agent();
      const { email } = await signUp(agent);
      const newEmail = uniqueEmail('moved');
      await confirmPassword(agent);
      const asked = await postForm(agent, '/account/email', { email: newEmail });
      assert.equal(asked.status, 303);
      await mail.waitFor(email, 'Your email address is being changed');
      const link = linkIn(await mail.waitFor(newEmail, 'Confirm your new email address'), '/confirm-email/');
      // Not yet: the old address still signs in.
      assert.equal((await signIn(app.agent(), email, strongPassword)).status, 303);
      assert.equal((await postForm(app.agent(), link)).status, 303);
      assert.equal((await signIn(app.agent(), email, strongPassword)).status, 401);
      assert.equal((await signIn(app.agent(), newEmail, strongPassword)).status, 303);
      assert.match((await agent.get('/account')).text, /Email: verified/);
      await mail.waitFor(email, 'Your email address was changed');
    });

    it('a change asked for by a session that is then signed out (password changed, sign out everywhere) cannot be finished', async () => {
      for (const end of ['password', 'everywhere'] as const) {
        const owner = app.agent();
        const { email } = await signUp(owner);
        const intruder = app.agent();
        await signIn(intruder, email, strongPassword);
        await confirmPassword(intruder);
        const attackerAddress = uniqueEmail('intruder');
        assert.equal((await postForm(intruder, '/account/email', { email: attackerAddress })).status, 303);
        const link = linkIn(await mail.waitFor(attackerAddress, 'Confirm your new email address'), '/confirm-email/');
        if (end === 'password')
          await postForm(owner, '/account/password', {
            currentPassword: strongPassword,
            password: newPassword,
            passwordConfirmation: newPassword,
          });
        else await submitForm(owner, '/account', '/account/sign-out-everywhere', {});
        assert.equal((await app.agent().get(link)).status, 410, `the link is void after ${end}`);
        assert.equal((await postForm(app.agent(), link).catch(() => undefined))?.status ?? 410, 410);
        const user = await prisma().user.findFirst({ where: { email } });
        assert.ok(user, `the account keeps its address after ${end}`);
      }
    });

    it('needs a recent password confirmation', async () => {
      const agent = app.agent();
      await signUp(agent);
      const page = await agent.get('/account/email');
      assert.equal(page.status, 303);
      assert.match(page.headers.location!, /^\/account\/confirm-password/);
    });
  });

  describe('security notices', () => {
    it('mails the owner when 2FA goes on and off', async () => {
      const agent = app.agent();
      const { email } = await signUp(agent);
      await turnOnTwoFactor(agent, standIn, nextMobile());
      await mail.waitFor(email, 'Two-factor authentication is on');
      await confirmPassword(agent);
      await postForm(agent, '/account/2fa/disable');
      await mail.waitFor(email, 'Two-factor authentication is off');
    });

    it('mails a sign-in from a browser new to the account, only when asked for, whatever the browser claims to be', async () => {
      const agent = app.agent();
      const { email } = await signUp(agent);
      const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
      /** Signs in from `browser` (an agent keeps its cookies, as a browser does), then out again. */
      const signInFrom = async (browser: Agent, userAgent = firefox) => {
        const page = await browser.get('/login').set('User-Agent', userAgent);
        const signedIn = await browser
          .post('/login')
          .set('User-Agent', userAgent)
          .type('form')
          .send({ _csrf: csrfTokenIn(page.text), email, password: strongPassword });
        assert.equal(signedIn.status, 303);
        const account = await browser.get('/account').expect(200);
        await browser
          .post('/logout')
          .type('form')
          .send({ _csrf: csrfTokenIn(account.text) })
          .expect(303);
      };
      const newSignIns = () => mail.to(email).filter((m) => m.subject === 'New sign-in to your account').length;
      const laptop = app.agent();
      await signInFrom(laptop);
      const account = await agent.get('/account').expect(200);
      assert.match(account.text, /Email me when someone signs in to my account from a new browser/);
      await agent
        .post('/account/notices')
        .type('form')
        .send({ _csrf: csrfTokenIn(account.text), newBrowser: 'on' })
        .expect(303);
      // The laptop again: known, so no mail.
      await signInFrom(laptop);
      // Another machine claiming to be the same Firefox is still a new browser.
      await signInFrom(app.agent());
      const notice = await mail.waitFor(email, 'New sign-in to your account');
      assert.match(notice.text, /Firefox on Linux/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(newSignIns(), 1);
      // Turning the mail off is itself mailed: a stolen session cannot do it quietly.
      const again = await agent.get('/account').expect(200);
      await agent
        .post('/account/notices')
        .type('form')
        .send({ _csrf: csrfTokenIn(again.text) })
        .expect(303);
      await mail.waitFor(email, 'Mail about new sign-ins was turned off');
    });
  });

  it('has no /dev/outbox when codes go through Twilio and mail through SMTP', async () => {
    await app.agent().get('/dev/outbox').expect(404);
  });

  describe('a relay that is down', () => {
    it('keeps the mail, sealed, and sends it once the relay is back', async () => {
      const { email } = await signUp(app.agent());
      await mail.waitFor(email, 'Confirm your email address');
      mail.refusing = true;
      try {
        assert.equal((await askForReset(email)).status, 200);
        await eventually(
          async () => (await prisma().mailOutbox.findMany()).some((row) => row.lastError !== null),
          'the refused mail is kept for a later try',
        );
        const rows = await prisma().mailOutbox.findMany();
        for (const row of rows) assert.doesNotMatch(row.sealed, /reset-password|@/, 'queued mail is sealed');
      } finally {
        mail.refusing = false;
      }
      // As the clock would: the next try is due now.
      await prisma().mailOutbox.updateMany({ data: { nextAttemptAt: new Date() } });
      await app.services.mail.deliverDue();
      await resetLink(email);
      assert.equal(await prisma().mailOutbox.count(), 0);
    });
  });
});

describe('REQUIRE_VERIFIED_EMAIL', () => {
  const running = appWithMail({ REQUIRE_VERIFIED_EMAIL: 'true' });

  it('keeps an unverified account from turning on 2FA until the address is confirmed', async () => {
    const { app, mail } = running;
    const agent = app.agent();
    const { email } = await signUp(agent);
    await confirmPassword(agent);
    const refused = await agent.get('/account/2fa');
    assert.equal(refused.status, 303);
    assert.equal(refused.headers.location, '/account');
    assert.match((await agent.get('/account')).text, /Confirm your email address first/);
    const link = linkIn(await mail.waitFor(email, 'Confirm your email address'), '/verify-email/');
    await submitForm(app.agent(), link, link, {});
    assert.equal((await agent.get('/account/2fa')).status, 200);
  });

  it('gives an unverified account no API tokens, and says why only to whoever knows the password', async () => {
    const { app, mail } = running;
    const { email } = await signUp(app.agent());
    const token = (password: string) =>
      request(app.url).post('/api/auth/token').send({ grant_type: 'password', email, password });
    const wrong = await token('not the password');
    assert.equal(wrong.status, 400);
    assert.equal((wrong.body as { error: string }).error, 'invalid_grant');
    const refused = await token(strongPassword);
    assertDescribed('POST', '/api/auth/token', refused);
    assert.equal(refused.status, 403);
    assert.equal((refused.body as { error: string }).error, 'access_denied');
    const link = linkIn(await mail.waitFor(email, 'Confirm your email address'), '/verify-email/');
    await submitForm(app.agent(), link, link, {});
    const granted = await token(strongPassword);
    assert.equal(granted.status, 200);
    assert.ok((granted.body as { access_token?: string }).access_token);
  });
});
