// The new recovery codes page: "Copy" puts the codes on the clipboard, "Print" opens the print
// dialog. Both need JavaScript, so they stay hidden without it; "Download" is a plain link.
document.addEventListener('DOMContentLoaded', () => {
  const list = document.querySelector('[data-recovery-codes]');
  if (!list) return;
  const codes = [...list.querySelectorAll('code')].map((code) => code.textContent.trim());
  const status = document.querySelector('[data-copy-status]');

  const copy = document.querySelector('[data-copy-codes]');
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(`${codes.join('\n')}\n`);
        if (status) status.textContent = 'The codes are copied.';
      } catch {
        if (status) status.textContent = 'The codes could not be copied: select them, or use Download.';
      }
    });
  }

  const print = document.querySelector('[data-print-codes]');
  if (print) {
    print.hidden = false;
    print.addEventListener('click', () => window.print());
  }
});
