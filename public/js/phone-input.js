// Enhances the phone field with intl-tel-input's country picker and formatting. Without
// JavaScript the country list and the phone field work on their own; with it, the picker
// replaces the list and the number is sent in international form.
document.addEventListener('DOMContentLoaded', () => {
  const form = document.querySelector('[data-phone-form]');
  if (!form || typeof window.intlTelInput !== 'function') return;
  const input = form.querySelector('input[name="phone"]');
  const countrySelect = form.querySelector('select[name="country"]');
  const iti = window.intlTelInput(input, {
    initialCountry: countrySelect.value.toLowerCase(),
    countrySearch: true,
    formatAsYouType: true,
  });
  form.querySelector('[data-country-field]').hidden = true;
  input.addEventListener('countrychange', () => {
    const country = iti.getSelectedCountry();
    if (country && country.iso2) countrySelect.value = country.iso2.toUpperCase();
  });
  form.addEventListener('submit', () => {
    const international = iti.getNumber();
    if (international) input.value = international;
  });
});
