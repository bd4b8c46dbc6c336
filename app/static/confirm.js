// Decisive actions (refuse, withdraw, close, reject, deny) ask before they go. The server
// takes such a form only with its box "confirm" ticked; without this script the user ticks
// it by hand. With it, a button marked data-confirm asks its question instead: yes ticks
// the box and sends the form, no sends nothing.
(function () {
  'use strict';
  for (const box of document.querySelectorAll('input[name="confirm"][required]')) {
    box.required = false; // the question below stands in for the browser's own check
  }
  document.addEventListener('submit', function (event) {
    const button = event.submitter;
    const question = button && button.dataset.confirm;
    if (!question) {
      return;
    }
    const box = event.target.querySelector('input[name="confirm"]');
    if (box && box.checked) {
      return; // ticked by hand: confirmed already
    }
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (box) {
      box.checked = true;
    }
  });
})();
