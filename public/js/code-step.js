// Shows the resend cooldown as it runs out. The server enforces it either way; without
// JavaScript an early press just gets a "please wait" answer.
document.addEventListener('DOMContentLoaded', () => {
  const note = document.querySelector('[data-cooldown-note]');
  for (const button of document.querySelectorAll('button[data-cooldown-seconds]')) {
    let remaining = Number(button.dataset.cooldownSeconds) || 0;
    if (remaining <= 0) continue;
    button.disabled = true;
    const timer = setInterval(() => {
      remaining -= 1;
      if (note && button.textContent.trim() === 'Resend code') {
        note.textContent =
          remaining > 0 ? `You can ask for a new code in ${remaining} ${remaining === 1 ? 'second' : 'seconds'}.` : '';
      }
      if (remaining <= 0) {
        button.disabled = false;
        clearInterval(timer);
      }
    }, 1000);
  }
});
