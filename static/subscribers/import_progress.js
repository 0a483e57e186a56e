/* The import progress page: refresh the bar every second from the JSON view, without reloading. When the run
 * ends (the dry-run report or the result is ready) the page reloads once to show it. */
(function () {
  'use strict';

  var POLL_MS = 1000;
  var PHASES = {
    queued: 'Waiting for a worker to start…',
    reading: 'Reading and checking the rows…',
    checking: 'Working out what to do with each row…',
    writing: 'Writing subscribers, subscriptions and consent events…',
    finished: 'Finished.',
  };
  var numberFormat = new Intl.NumberFormat(document.documentElement.lang || 'en-GB');

  function show(root, data) {
    var percent = Math.round(data.percent);
    root.querySelectorAll('[data-progress-field="percent"]').forEach(function (el) { el.textContent = String(percent); });
    root.querySelectorAll('[data-progress-field="rows"]').forEach(function (el) { el.textContent = numberFormat.format(data.rows); });
    var phase = PHASES[data.phase];
    if (phase) root.querySelectorAll('[data-progress-field="phase"]').forEach(function (el) { el.textContent = phase; });
    var bar = root.querySelector('[data-progress-bar]');
    var fill = root.querySelector('[data-progress-fill]');
    if (bar && fill) {
      bar.setAttribute('aria-valuenow', String(data.percent));
      fill.style.width = data.percent + '%';
    }
  }

  function poll(root) {
    fetch(root.getAttribute('data-progress-url'), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      })
      .then(function (data) {
        show(root, data);
        if (data.status !== root.getAttribute('data-status')) {
          window.setTimeout(function () { window.location.reload(); }, 400);
          return;
        }
        window.setTimeout(function () { poll(root); }, POLL_MS);
      })
      .catch(function () { window.setTimeout(function () { poll(root); }, POLL_MS * 3); });
  }

  document.querySelectorAll('[data-import-progress]').forEach(function (root) {
    if (root.getAttribute('data-running') === 'true') poll(root);
  });
})();
