// Passkeys: hands the server's options to the browser's WebAuthn (through SimpleWebAuthn's
// browser package, served from node_modules at /vendor/simplewebauthn) and posts its answer
// with the form. Passkeys need JavaScript: without it (or without WebAuthn) the pages say so and
// offer the other ways. On /login ("passwordless"), the browser may also offer its passkeys in
// the Email field (conditional mediation), with the same challenge as the button's.
document.addEventListener('DOMContentLoaded', () => {
  const webauthn = window.SimpleWebAuthnBrowser;
  const supported = Boolean(webauthn && webauthn.browserSupportsWebAuthn());
  for (const notice of document.querySelectorAll('[data-passkey-unsupported]')) notice.hidden = supported;
  for (const button of document.querySelectorAll('[data-passkey-reveal]')) button.hidden = !supported;

  for (const form of document.querySelectorAll('[data-passkey-form]')) {
    const registering = form.dataset.passkeyForm === 'register';
    const passwordless = form.dataset.passkeyForm === 'passwordless';
    // A form where a passkey is one way among others (deleting the account): the ceremony runs
    // only when the passkey is the way chosen, and the form works without it otherwise.
    const onlyFor = form.dataset.passkeyFactor;
    const chosen = () => !onlyFor || form.querySelector(`input[name="factor"][value="${onlyFor}"]`)?.checked;
    const answer = form.querySelector('input[name="credential"]');
    const status = document.querySelector('[data-passkey-status]');
    const button = form.querySelector('button[type="submit"]');
    if (!supported) {
      if (button && !onlyFor) button.disabled = true;
      continue;
    }
    const say = (text) => {
      if (status) status.textContent = text;
    };
    const optionsJSON = () => JSON.parse(form.dataset.passkeyOptions);

    const send = (result) => {
      answer.value = JSON.stringify(result);
      // "Remember me" is the password form's checkbox: the passkey's sign-in honours it too.
      const remember = document.getElementById('remember');
      if (passwordless && remember) form.querySelector('input[name="remember"]').value = remember.checked ? 'on' : '';
      say(registering ? 'Saving your passkey…' : 'Checking your passkey…');
      form.submit();
    };

    // The passkeys the browser offers in the Email field; started again after the button's
    // prompt is cancelled (starting that prompt ends this one, and its rejection says nothing).
    const autofill = async () => {
      if (!passwordless || !(await webauthn.browserSupportsWebAuthnAutofill())) return;
      webauthn
        .startAuthentication({ optionsJSON: optionsJSON(), useBrowserAutofill: true })
        .then(send)
        .catch(() => {});
    };
    autofill();

    form.addEventListener('submit', async (event) => {
      // The answer is in, or another way was chosen: the form goes as it is.
      if (answer.value || !chosen()) return;
      event.preventDefault();
      // The code field a passkey leaves empty is required of the other ways: the server judges this form.
      if (!onlyFor && !form.reportValidity()) return;
      if (button) button.disabled = true;
      say(registering ? 'Follow your browser to create the passkey…' : 'Follow your browser to use your passkey…');
      try {
        const result = registering
          ? await webauthn.startRegistration({ optionsJSON: optionsJSON() })
          : await webauthn.startAuthentication({ optionsJSON: optionsJSON() });
        send(result);
      } catch (error) {
        if (button) button.disabled = false;
        say(
          error && error.name === 'NotAllowedError'
            ? `No passkey was used: it was cancelled, or took too long. Try again, or ${passwordless ? 'sign in with your email and password' : 'use another way'}.`
            : `Your browser could not use a passkey here. Try again, or ${passwordless ? 'sign in with your email and password' : 'use another way'}.`,
        );
        autofill();
      }
    });
  }
});
