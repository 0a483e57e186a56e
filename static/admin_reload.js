/* The send page while a large audience is counted in the background: an element with data-reload-seconds="N"
 * reloads the page after N seconds, until the count is there and the element is gone. */
(function () {
  'use strict';

  function init() {
    var waiting = document.querySelector('[data-reload-seconds]');
    if (!waiting) return;
    var seconds = parseFloat(waiting.getAttribute('data-reload-seconds')) || 3;
    window.setTimeout(function () {
      window.location.replace(window.location.pathname);
    }, seconds * 1000);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
