/* A progress panel in the admin (an import, a send): refresh its numbers and its bar from a JSON view, without
 * reloading, and reload once when the work changes state (finished, paused, cancelled...) so that the page's
 * buttons and notices match it.
 *
 * The panel says what to do in data attributes:
 *   data-progress-url         the JSON view to poll
 *   data-progress-every       milliseconds between polls
 *   data-progress-live        "true" while there is something to watch; otherwise nothing is polled
 *   data-progress-state-key   the JSON field holding the state ("status", "state")
 *   data-progress-state       its value when the page was drawn; any other value reloads the page
 * Inside it, each [data-progress-field="name"] shows the JSON field of that name: a number formatted for the
 * page's language (at most data-progress-digits decimals, when given), text as it is, a dash for none. The
 * [data-progress-bar] and its [data-progress-fill] follow the field "percent". */
(function () {
  'use strict';

  var RELOAD_AFTER_MS = 400; // long enough to see the final numbers before the page changes
  var locale = document.documentElement.lang || 'en-GB';

  function formatted(value, digits) {
    if (value === null || value === undefined) return '–';
    if (typeof value !== 'number') return String(value);
    var options = digits === null ? {} : { maximumFractionDigits: Number(digits) };
    return new Intl.NumberFormat(locale, options).format(value);
  }

  function show(root, data) {
    root.querySelectorAll('[data-progress-field]').forEach(function (el) {
      var name = el.getAttribute('data-progress-field');
      if (name in data) el.textContent = formatted(data[name], el.getAttribute('data-progress-digits'));
    });
    var bar = root.querySelector('[data-progress-bar]');
    var fill = root.querySelector('[data-progress-fill]');
    if (bar && fill && typeof data.percent === 'number') {
      bar.setAttribute('aria-valuenow', String(data.percent));
      fill.style.width = data.percent + '%';
    }
  }

  function watch(root) {
    var url = root.getAttribute('data-progress-url');
    var every = Number(root.getAttribute('data-progress-every')) || 2000;
    var stateKey = root.getAttribute('data-progress-state-key');
    var state = root.getAttribute('data-progress-state');

    function poll() {
      fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (response) {
          if (!response.ok) throw new Error('HTTP ' + response.status);
          return response.json();
        })
        .then(function (data) {
          show(root, data);
          if (String(data[stateKey]) !== state) {
            window.setTimeout(function () { window.location.reload(); }, RELOAD_AFTER_MS);
            return;
          }
          window.setTimeout(poll, every);
        })
        // A missed answer (server restarting, network blip): keep the last numbers and try again, less often.
        .catch(function () { window.setTimeout(poll, every * 2); });
    }

    // The page was drawn with the current numbers, so the first poll waits one interval.
    window.setTimeout(poll, every);
  }

  function init() {
    document.querySelectorAll('[data-progress-url]').forEach(function (root) {
      if (root.getAttribute('data-progress-live') === 'true') watch(root);
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
