// Moves focus to the first element marked data-focus (a success banner or an error summary) when a
// page loads and after each htmx swap; the mark is then removed so a later swap does not steal focus.
(function () {
  function focusMarked() {
    var target = document.querySelector("[data-focus]");
    if (target) {
      target.removeAttribute("data-focus");
      target.focus();
    }
  }
  document.addEventListener("DOMContentLoaded", focusMarked);
  document.addEventListener("htmx:afterSettle", focusMarked);
})();
