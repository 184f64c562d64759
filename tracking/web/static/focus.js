// Move focus to what a person should read first after a page load or an htmx swap: the first
// element marked data-focus (a success banner, an error summary, a form just shown). Each mark is
// used once, so a later swap does not pull focus back to an old banner. No inline script (CSP).
(function () {
  function focusMarked() {
    var target = document.querySelector("[data-focus]");
    if (!target) return;
    target.removeAttribute("data-focus");
    target.focus();
  }
  document.addEventListener("DOMContentLoaded", focusMarked);
  document.addEventListener("htmx:afterSettle", focusMarked);
})();
