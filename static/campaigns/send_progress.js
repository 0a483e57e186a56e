/* The send progress page: refresh the counts and the bar every two seconds from the JSON view, without reloading.
 * When the send changes state (finished, paused by a quota or a colleague, cancelled) the page reloads once, so its
 * buttons and notices match the new state. Cancel asks for confirmation first. */
(function () {
  'use strict';

  var POLL_MS = 2000;
  var numberFormat = new Intl.NumberFormat(document.documentElement.lang || 'en-GB');

  function etaText(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    if (seconds < 60) return 'under a minute';
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) return 'about ' + minutes + ' min';
    var hours = Math.floor(minutes / 60);
    return 'about ' + hours + ' h ' + (minutes % 60) + ' min';
  }

  function show(root, data) {
    var fields = {
      done: numberFormat.format(data.done),
      total: numberFormat.format(data.total),
      percent: String(data.percent),
      sent: numberFormat.format(data.sent),
      failed: numberFormat.format(data.failed),
      skipped: numberFormat.format(data.skipped),
      unknown: numberFormat.format(data.unknown),
      queued: numberFormat.format(data.queued),
      in_flight: numberFormat.format(data.in_flight),
      rate: data.rate === null ? '–' : String(data.rate),
      eta: etaText(data.eta_seconds),
    };
    Object.keys(fields).forEach(function (name) {
      root.querySelectorAll('[data-progress-field="' + name + '"]').forEach(function (el) {
        el.textContent = fields[name];
      });
    });
    var bar = root.querySelector('[data-progress-bar]');
    var fill = root.querySelector('[data-progress-fill]');
    if (bar && fill) {
      bar.setAttribute('aria-valuenow', String(data.percent));
      fill.style.width = data.percent + '%';
    }
  }

  function poll(root) {
    var url = root.getAttribute('data-progress-url');
    var state = root.getAttribute('data-state');
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      })
      .then(function (data) {
        show(root, data);
        if (data.state !== state) {
          window.location.reload();
          return;
        }
        window.setTimeout(function () { poll(root); }, POLL_MS);
      })
      .catch(function () {
        // A missed answer (server restarting, network blip): keep the last numbers and try again.
        window.setTimeout(function () { poll(root); }, POLL_MS * 2);
      });
  }

  function init() {
    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
      });
    });
    var root = document.querySelector('[data-send-progress]');
    if (!root || root.getAttribute('data-final') === 'true') return;
    window.setTimeout(function () { poll(root); }, POLL_MS);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
