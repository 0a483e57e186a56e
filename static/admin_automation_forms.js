/* The automation admin's forms: show only the fields of the choice made. A fieldset or row marked
 * data-shown-when="field=value" is shown while the radio button "field" has that value, and hidden otherwise.
 * Without JavaScript every field shows, and the server ignores those of other choices. */
(function () {
  'use strict';

  function chosen(form, name) {
    var checked = form.querySelector('input[type=radio][name="' + name + '"]:checked');
    return checked ? checked.value : '';
  }

  function update(form) {
    form.querySelectorAll('[data-shown-when]').forEach(function (part) {
      var rule = part.getAttribute('data-shown-when').split('=');
      part.hidden = chosen(form, rule[0]) !== rule[1];
    });
  }

  function init() {
    document.querySelectorAll('form[data-shows-chosen]').forEach(function (form) {
      form.addEventListener('change', function (event) {
        if (event.target.type === 'radio') update(form);
      });
      update(form);
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
