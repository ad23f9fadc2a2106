// Overview charts: orders synced and failures per day. Data comes from the page's json_script element
// (#sync-chart-data); no inline script, so the CSP stays strict.
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("sync-chart-data");
  if (!source || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const styles = getComputedStyle(document.documentElement);
  const colour = (name, fallback) => styles.getPropertyValue(name).trim() || fallback;
  const options = (title) => ({
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { display: false }, title: { display: true, text: title } },
    scales: {
      x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { display: false } },
      y: { beginAtZero: true, ticks: { precision: 0 } },
    },
  });
  const bar = (id, label, values, fill, title) => {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: [{ label, data: values, backgroundColor: fill, borderRadius: 3 }] },
      options: options(title),
    });
  };
  bar("synced-chart", "Orders synced", data.synced, colour("--bs-success", "#198754"), "Orders synced per day");
  bar("failed-chart", "Orders failed", data.failed, colour("--bs-danger", "#dc3545"), "Failures per day");
});
