// Failed orders: "select every order on this page" and the count on "Retry selected". Event delegation on the
// document, so rows and tables swapped in by htmx keep working.
(() => {
  const boxes = () => Array.from(document.querySelectorAll('input[name="ids"][form="bulk-retry"]'));
  const refresh = () => {
    const ticked = boxes().filter((box) => box.checked).length;
    document.querySelectorAll("[data-bulk-count]").forEach((el) => { el.textContent = String(ticked); });
    document.querySelectorAll("[data-bulk-submit]").forEach((el) => { el.disabled = ticked === 0; });
    const all = document.querySelector("[data-select-all]");
    if (all) {
      const total = boxes().length;
      all.checked = total > 0 && ticked === total;
      all.indeterminate = ticked > 0 && ticked < total;
    }
  };
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      boxes().forEach((box) => { box.checked = event.target.checked; });
    }
    if (event.target.matches("[data-select-all], input[name='ids']")) refresh();
  });
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("DOMContentLoaded", refresh);
})();
