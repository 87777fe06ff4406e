// Refreshes the dashboard's overview (server-rendered HTML) every N seconds, keeping open lists open.
(function () {
  "use strict";
  const box = document.getElementById("overview");
  const range = document.getElementById("range");
  const csv = document.getElementById("csv");
  const seconds = Math.max(1, Number(box.dataset.refresh) || 30);
  let count = 0;

  async function refresh() {
    try {
      const response = await fetch("/fragment/overview?days=" + encodeURIComponent(range.value),
                                   { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (response.status === 401 || response.redirected) {
        window.location.reload();  // logged out meanwhile: show the login page
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const open = Array.from(box.querySelectorAll("details[open][id]"), (d) => d.id);
      box.innerHTML = await response.text();  // rendered and escaped by the server
      open.forEach((id) => { const d = document.getElementById(id); if (d) d.open = true; });  // as the clerk left them
      document.body.classList.remove("offline");
      box.dataset.refreshes = String(++count);
    } catch (error) {
      document.body.classList.add("offline");  // keep the last numbers, greyed out
    }
  }

  range.addEventListener("change", function () {
    csv.href = "/export/history.csv?days=" + encodeURIComponent(range.value);
    window.history.replaceState(null, "", "?days=" + encodeURIComponent(range.value));
    refresh();
  });
  window.setInterval(refresh, seconds * 1000);
})();
