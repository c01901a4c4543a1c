/* Communa: the few behaviours HTML cannot express alone. Every page works without this file. */
(function () {
  "use strict";

  // Dropdowns are <details class="menu">: close them on a click elsewhere or on Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  // <input data-select-on-focus>: one click selects a value meant to be copied (a webhook address).
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
  });

  // <button data-copy="#selector" data-copied="Copied">: shown only where the clipboard API exists.
  function enableCopyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    navigator.clipboard.writeText(source.value || source.textContent).then(function () {
      button.textContent = button.getAttribute("data-copied") || label;
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enableCopyButtons);
  } else {
    enableCopyButtons();
  }
})();
