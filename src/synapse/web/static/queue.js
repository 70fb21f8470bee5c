// The Job Queue page: bars move with PROGRESS events; state changes and new jobs re-render the
// rows from the server; when the socket drops it polls, and catches up when it is back.
"use strict";
(() => {
  const rows = document.getElementById("rows");
  const form = document.getElementById("filters");
  let pending = null;

  async function refresh() {
    const r = await fetch(`/ui/queue/rows${location.search}`, { credentials: "same-origin" });
    if (r.status === 401 || r.redirected) { location.reload(); return; }
    if (r.ok) { rows.innerHTML = await r.text(); Live.refreshTimes(rows); }
  }
  function soon() { if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 250); }

  form.addEventListener("change", () => {
    const q = new URLSearchParams(new FormData(form));
    history.replaceState(null, "", `/?${q}`);
    refresh();
  });
  document.addEventListener("live-refresh", soon);
  // "Run now" on a schedule entry (admins): POST /api/v1/schedules/{name}/run.
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-run-schedule]");
    if (!btn) return;
    btn.disabled = true;
    const name = encodeURIComponent(btn.dataset.runSchedule);
    const r = await fetch(`/api/v1/schedules/${name}/run`, { method: "POST", credentials: "same-origin" });
    if (!r.ok) {
      let detail = r.statusText;
      try { detail = (await r.json()).detail; } catch (err) { /* not JSON */ }
      alert(`Run now failed: ${detail}`);
    }
    btn.disabled = false;
    soon();
  });

  Live.connect("/ws/logs", {
    onEvent(ev) {
      const ctx = ev.context || {};
      const row = document.getElementById(`job-${ctx.task_id}`);
      if (ev.action_type === "PROGRESS" && row && row.dataset.state === "RUNNING") {
        Live.applyProgress(row, ctx, ev.message);
      } else if (ev.action_type === "STATE" || !row) {
        soon();
      }
    },
    onReconnect: refresh,
    poll: refresh,
  });
})();
