// Enhances the phone field with intl-tel-input's country picker and formatting. Without
// JavaScript the country list and the phone field work on their own; with it, the picker
// replaces the list, keeps it in step for the server, and a number it recognises is sent in
// E.164. Anything else is sent as typed, with the chosen country, for the server to explain.
document.addEventListener('DOMContentLoaded', () => {
  const form = document.querySelector('[data-phone-form]');
  if (!form || typeof window.intlTelInput !== 'function') return;
  const input = form.querySelector('input[name="phone"]');
  const countrySelect = form.querySelector('select[name="country"]');
  const iti = window.intlTelInput(input, {
    initialCountry: countrySelect.value.toLowerCase(),
    // The dial code stays in the field, where people type it: with a separate dial code, "+"
    // opens the country search and the rest of "+44 20 …" lands in the search box.
    separateDialCode: false,
    // Strict mode cuts a paste to the longest number of the country chosen before it, so
    // "+44 20 7946 0958" pasted over France lost its last digit. The server judges numbers.
    strictMode: false,
    countrySearch: true,
    formatAsYouType: true,
    // The button shows a flag only; its name says what it is for and what is chosen.
    uiTranslations: { selectedCountryAriaLabel: 'Country: ${countryName} (${dialCode})' },
  });
  form.querySelector('[data-country-field]').hidden = true;

  // The picker is a dialog without a name; on narrow screens it is built again when it opens.
  const countryButton = form.querySelector('.iti__selected-country');
  input.addEventListener('open:countryselector', () => {
    const picker = document.getElementById(countryButton.getAttribute('aria-controls'));
    if (picker) picker.setAttribute('aria-label', 'Choose the country of your phone number');
  });

  // The picker moves the field into its own wrapper, and a moved field loses autofocus.
  if (input.autofocus) input.focus();

  input.addEventListener('countrychange', () => {
    const country = iti.getSelectedCountry();
    if (country && country.iso2) countrySelect.value = country.iso2.toUpperCase();
  });
  form.addEventListener('submit', () => {
    if (iti.isValidNumber()) input.value = iti.getNumber();
  });
});
