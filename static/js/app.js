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

  // A select narrowed by another: <select data-narrowed-by="outlet"> whose options carry data-outlet shows only
  // the options of the choice made in the form's select named "outlet" (the registers of the chosen outlet).
  const narrow = (select) => {
    const by = select.form && select.form.elements.namedItem(select.dataset.narrowedBy);
    if (!by) return;
    let keep = null;
    for (const option of select.options) {
      const shown = !option.dataset.outlet || option.dataset.outlet === by.value;
      option.hidden = !shown;
      option.disabled = !shown;
      if (shown && (keep === null || option.selected)) keep = option;
    }
    if (keep && !keep.selected) keep.selected = true;
  };
  const narrowedSelects = () => document.querySelectorAll("select[data-narrowed-by]");
  narrowedSelects().forEach(narrow);
  document.body.addEventListener("change", (event) => {
    narrowedSelects().forEach((select) => {
      if (select.form === event.target.form && event.target.name === select.dataset.narrowedBy) narrow(select);
    });
  });
});
