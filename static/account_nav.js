/* Account pages on a phone: the menu is one row that scrolls sideways (site.css). Scroll it so that the current
 * page's tab is in view, on load and whenever the layout switches to the phone's; the links stay ordinary links,
 * reached with Tab or a swipe. */
(function () {
  'use strict';

  var nav = document.querySelector('.account-nav');
  var current = nav && nav.querySelector('[aria-current=page]');
  if (!current) return;

  function showCurrent() {
    if (nav.scrollWidth <= nav.clientWidth) return;
    // Centre the tab by scrolling the row alone (scrollIntoView could move the window too).
    nav.scrollLeft = current.offsetLeft - (nav.clientWidth - current.offsetWidth) / 2;
  }

  showCurrent();
  var phone = window.matchMedia('(max-width: 720px)');
  if (phone.addEventListener) phone.addEventListener('change', showCurrent);
})();
