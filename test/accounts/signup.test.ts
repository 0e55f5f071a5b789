import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyPassword } from '../../src/accounts/passwords.js';
import { appForTests, strongPassword, submitForm, uniqueEmail } from '../support/app.js';

describe('sign-up', () => {
  const running = appForTests();

  const signUpWith = (fields: Record<string, string>) => submitForm(running.app.agent(), '/signup', '/signup', fields);

  it('shows a form with the labelled fields and button people rely on', async () => {
    const page = await running.app.agent().get('/signup').expect(200);
    assert.match(page.text, /<label for="email">Email<\/label>/);
    assert.match(page.text, /<label for="password">Password<\/label>/);
    assert.match(page.text, /<label for="passwordConfirmation">Confirm password<\/label>/);
    assert.match(page.text, /<button type="submit" class="button">Sign up<\/button>/);
    assert.match(page.text, /autocomplete="new-password"/);
  });

  it('creates the account, signs the person in and shows their email on /account', async () => {
    const agent = running.app.agent();
    const email = uniqueEmail();
    const response = await submitForm(agent, '/signup', '/signup', {
      email,
      password: strongPassword,
      passwordConfirmation: strongPassword,
    });
    assert.equal(response.status, 303);
    assert.equal(response.headers.location, '/account');
    const account = await agent.get('/account').expect(200);
    assert.match(account.text, new RegExp(email.replace(/\./g, '\\.')));
    assert.match(account.text, /Welcome! Your account is ready\./);
  });

  it('stores the email normalised and the password only as an argon2id hash', async () => {
    const typed = `  Mixed.Case.${Date.now()}@Example.COM `;
    const response = await signUpWith({ email: typed, password: strongPassword, passwordConfirmation: strongPassword });
    assert.equal(response.status, 303);
    const user = await running.app.services.database.prisma.user.findUnique({
      where: { email: typed.trim().toLowerCase() },
    });
    assert.ok(user, 'the account is stored under the lower-cased, trimmed email');
    assert.match(user.passwordHash, /^\$argon2id\$v=19\$/);
    assert.match(user.passwordHash, /m=19456/, "at least OWASP's 19 MiB");
    assert.match(user.passwordHash, /t=2/);
    assert.ok(!user.passwordHash.includes(strongPassword));
    assert.equal(await verifyPassword(user.passwordHash, strongPassword), true);
    assert.equal(user.role, 'USER');
  });

  it('refuses a second account for the same email, whatever its case, and keeps what was typed', async () => {
    const email = uniqueEmail('duplicate');
    const first = await signUpWith({ email, password: strongPassword, passwordConfirmation: strongPassword });
    assert.equal(first.status, 303);
    const again = await signUpWith({
      email: email.toUpperCase(),
      password: strongPassword,
      passwordConfirmation: strongPassword,
    });
    assert.equal(again.status, 409);
    assert.match(again.text, /An account with this email already exists/);
    assert.match(again.text, new RegExp(`value="${email.replace(/\./g, '\\.')}"`));
    assert.equal(await running.app.services.database.prisma.user.count({ where: { email } }), 1);
  });

  const refusals: Array<[string, Record<string, string>, RegExp]> = [
    [
      'an empty email',
      { email: '', password: strongPassword, passwordConfirmation: strongPassword },
      /Enter your email address\./,
    ],
    [
      'a malformed email',
      { email: 'not-an-email', password: strongPassword, passwordConfirmation: strongPassword },
      /Enter an email address like name@example\.com\./,
    ],
    [
      'a password under 8 characters',
      { email: 'short@example.com', password: 'abc123', passwordConfirmation: 'abc123' },
      /Use at least 8 characters/,
    ],
    [
      'a very common password',
      { email: 'common@example.com', password: 'password123', passwordConfirmation: 'password123' },
      /most commonly used/,
    ],
    [
      'the email as password',
      { email: 'samesame@example.com', password: 'samesame@example.com', passwordConfirmation: 'samesame@example.com' },
      /Do not use your email address/,
    ],
    [
      "the email's local part as password",
      { email: 'samesame@example.com', password: 'SameSame', passwordConfirmation: 'SameSame' },
      /Do not use your email address as your password\./,
    ],
    [
      'a single repeated character',
      { email: 'repeat@example.com', password: '~~~~~~~~~~', passwordConfirmation: '~~~~~~~~~~' },
      /A single repeated character is easy to guess\. Choose another password\./,
    ],
    [
      'a password over 256 characters',
      { email: 'long@example.com', password: 'x'.repeat(257), passwordConfirmation: 'x'.repeat(257) },
      /at most 256 characters/,
    ],
    [
      'passwords that differ',
      { email: 'differ@example.com', password: strongPassword, passwordConfirmation: `${strongPassword}!` },
      /The two passwords do not match\./,
    ],
  ];
  for (const [what, fields, message] of refusals) {
    it(`refuses ${what} with a clear message and status 422, creating nothing`, async () => {
      const before = await running.app.services.database.prisma.user.count();
      const response = await signUpWith(fields);
      assert.equal(response.status, 422);
      assert.match(response.text, message);
      assert.match(response.text, /aria-invalid="true"/);
      assert.doesNotMatch(response.text, /type="password"\s*value=/, 'a password is never echoed back');
      assert.equal(await running.app.services.database.prisma.user.count(), before);
    });
  }

  it('accepts a long passphrase with spaces and non-Latin letters, no composition rules', async () => {
    const passphrase = 'mon chat aime le café au lait très chaud — ünd Grüße 🙂';
    const email = uniqueEmail('passphrase');
    const response = await signUpWith({ email, password: passphrase, passwordConfirmation: passphrase });
    assert.equal(response.status, 303);
  });

  it('sends a signed-in person away from the sign-up form', async () => {
    const agent = running.app.agent();
    const signedUp = await submitForm(agent, '/signup', '/signup', {
      email: uniqueEmail(),
      password: strongPassword,
      passwordConfirmation: strongPassword,
    });
    assert.equal(signedUp.status, 303);
    const page = await agent.get('/signup');
    assert.equal(page.status, 303);
    assert.equal(page.headers.location, '/account');
  });
});
