// Progressive enhancements of every form; without JavaScript the forms work the same.
// - After an error, the error summary takes the focus, so it is read first, and its links move
//   the focus to their field with the field's label in view (a plain #link only scrolls).
// - Each password field gets a "Show password" toggle button.
document.addEventListener('DOMContentLoaded', () => {
  const summary = document.querySelector('[data-error-summary]');
  if (summary) {
    summary.focus();
    summary.addEventListener('click', (event) => {
      const link = event.target.closest?.('a[href^="#"]');
      const field = link && document.getElementById(link.getAttribute('href').slice(1));
      if (!field) return;
      event.preventDefault();
      const label = document.querySelector(`label[for="${field.id}"]`);
      (label ?? field).scrollIntoView();
      field.focus({ preventScroll: true });
    });
  }

  for (const input of document.querySelectorAll('input[type="password"]:not([hidden])')) {
    const toggle = document.createElement('button');
    toggle.type = 'button';
    toggle.className = 'button button--link show-password';
    toggle.textContent = 'Show password';
    toggle.setAttribute('aria-controls', input.id);
    toggle.setAttribute('aria-pressed', 'false');
    toggle.addEventListener('click', () => {
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      toggle.setAttribute('aria-pressed', String(show));
    });
    input.after(toggle);
  }
  // A shown password is hidden again before the form goes, so the browser does not offer to
  // remember it as ordinary text.
  for (const form of document.querySelectorAll('form')) {
    form.addEventListener('submit', () => {
      for (const toggle of form.querySelectorAll('.show-password[aria-pressed="true"]')) toggle.click();
    });
  }
});
