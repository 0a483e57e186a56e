/* Admin forms that do something hard to undo (cancelling a send): a form with data-confirm="question" is sent only
 * when the browser's confirmation dialog is answered OK. */
(function () {
  'use strict';

  function init() {
    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
      });
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
