/* The review queue's keyboard: one key per action (shown as <kbd> on each button), j/k to move, c to claim.
   Keys are ignored while typing in a field. Every action is also a plain form button. */
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var key = event.key.toLowerCase();
    if (key === "j" || key === "k") {
      var link = document.querySelector(key === "j" ? "[data-next-item]" : "[data-prev-item]");
      if (link) { event.preventDefault(); window.location = link.href; }
      return;
    }
    var button = document.querySelector('button[data-key="' + key + '"]');
    if (!button || button.disabled) return;
    event.preventDefault();
    button.click();
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
})();
