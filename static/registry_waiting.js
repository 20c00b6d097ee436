// Printable list of the stations waiting for a location (/registry/waiting): the print button.
(function () {
  'use strict';
  var btn = document.getElementById('print-btn');
  if (btn) btn.addEventListener('click', function () { window.print(); });
})();
