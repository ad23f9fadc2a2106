// Dashboard behaviour that needs JavaScript. Static file (no inline script) so the CSP stays strict.
document.addEventListener("DOMContentLoaded", () => {
  // Confirm destructive actions: <form data-confirm="Are you sure?">
  document.body.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // Print buttons: <button data-action="print">
  document.body.addEventListener("click", (event) => {
    if (event.target.closest("[data-action=print]")) window.print();
  });
});
