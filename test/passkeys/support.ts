// What the passkey tests share: adding a passkey on /account (confirming the password when asked)
// and a person who has one, made with a software authenticator.
import assert from 'node:assert/strict';
import { confirmPassword, csrfTokenIn, signUp, type Agent, type TestApp } from '../support/app.js';
import { optionsIn, SoftAuthenticator, type AnswerOptions } from './authenticator.js';

/** Opens "Add a passkey" (confirming the password first) and answers it with `authenticator`. */
export async function addPasskey(
  agent: Agent,
  authenticator: SoftAuthenticator,
  name = 'Laptop',
  answer: AnswerOptions = {},
): Promise<Awaited<ReturnType<Agent['post']>>> {
  const page = await agent.get('/account/passkeys/new');
  if (page.status === 303) {
    await confirmPassword(agent);
    return addPasskey(agent, authenticator, name, answer);
  }
  assert.equal(page.status, 200);
  const credential = authenticator.register(optionsIn(page.text), answer);
  return agent
    .post('/account/passkeys/new')
    .type('form')
    .send({ _csrf: csrfTokenIn(page.text), name, credential });
}

/** A new account with one passkey: its agent (signed in) and the authenticator holding the passkey. */
export async function personWithPasskey(app: TestApp, name = 'Laptop') {
  const agent = app.agent();
  const person = await signUp(agent);
  const authenticator = new SoftAuthenticator();
  const added = await addPasskey(agent, authenticator, name);
  assert.equal(added.status, 303, added.text);
  return { ...person, agent, authenticator };
}
