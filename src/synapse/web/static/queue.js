// The Job Queue page: bars move with PROGRESS events; state changes and new jobs re-render the
// rows from the server (at most once a second, and only for jobs the filters show); each section
// pages on by cursor; checkboxes and "everything matching" feed the bulk Retry / Cancel, which
// shows the count first (a dry run) and acts only once confirmed. When the socket drops it polls
// and catches up; when the server cannot be reached it says so in the banner.
"use strict";
(() => {
  const rows = document.getElementById("rows");
  const form = document.getElementById("filters");
  const bulk = document.getElementById("bulk");
  const stale = document.getElementById("stale");
  const GAP = 1000;  // ms between two re-fetches of the rows
  const GROUP_OF = { RUNNING: "running", RETRYING: "running", QUEUED: "queued", SCHEDULED: "queued",
    SUCCESS: "completed", FAILURE: "failed", CANCELLED: "cancelled" };
  let last = 0, timer = null, busy = false, offline = false;

  function filters() { return Object.fromEntries(new FormData(form)); }
  function query(extra = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...filters(), ...extra })) if (v) q.set(k, v);
    return q.toString();
  }
  // Rows are held (not re-rendered) while someone selects or has paged on: they would be lost.
  function held() {
    return Boolean(rows.querySelector(".pick:checked, [data-extended], .inline-ask"));
  }

  async function refresh(force = false) {
    if (busy) { soon(); return; }
    if (held() && !force) { stale.hidden = false; return; }
    busy = true;
    last = Date.now();
    try {
      const r = await Live.get(`/ui/queue/rows?${query()}`);
      if (!r) {
        offline = true;
        Live.banner("Live updates lost and the server cannot be reached; retrying every 3 seconds.");
        return;
      }
      if (r.status === 401 || r.redirected) { location.reload(); return; }
      if (offline) { offline = false; }
      if (r.ok) {
        const html = await r.text();
        // Someone may have opened a question or ticked a row while the rows were on their way.
        if (held() && !force) { stale.hidden = false; return; }
        rows.innerHTML = html;
        stale.hidden = true;
        Live.refreshTimes(rows);
        updateSelection();
      }
    } finally { busy = false; }
  }
  // Coalesce: a burst of events makes one re-fetch now-ish and at most one per GAP after it.
  function soon() {
    if (timer) return;
    const wait = Math.max(150, last + GAP - Date.now());
    timer = setTimeout(() => { timer = null; refresh(); }, wait);
  }

  // Does an event concern what this page shows? Jobs of another type, project or section are
  // ignored, unless the job is on the page now (it may be leaving it).
  function concerns(ctx) {
    if (document.getElementById(`job-${ctx.task_id}`)) return true;
    const f = filters();
    if (f.type && ctx.job_type && ctx.job_type !== f.type) return false;
    if (f.project && ctx.project_id !== f.project) return false;
    if (f.state && f.state !== "all" && ctx.state && GROUP_OF[ctx.state] !== f.state) return false;
    if (f.q && ctx.task_id && /^[0-9a-f-]{8,}$/i.test(f.q) && !ctx.task_id.startsWith(f.q.toLowerCase())) return false;
    return true;
  }

  function apply() {
    history.replaceState(null, "", `/?${query()}`);
    refresh(true);
  }
  form.addEventListener("change", (e) => { if (e.target.name !== "q" && e.target.name !== "submitted_by") apply(); });
  form.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
  let typing = null;
  form.addEventListener("input", (e) => {
    if (e.target.name !== "q" && e.target.name !== "submitted_by") return;
    clearTimeout(typing);
    typing = setTimeout(apply, 400);
  });
  // On a phone the filters start folded so the jobs are on the first screen.
  const box = document.getElementById("filter-box");
  if (box && window.matchMedia("(max-width: 700px)").matches && !location.search.includes("q=")) box.open = false;

  document.getElementById("reload-rows").addEventListener("click", () => {
    rows.querySelectorAll(".pick:checked").forEach((c) => { c.checked = false; });
    refresh(true);
  });

  // "Next 50 →": the section's next page appended in place (the link works without script).
  rows.addEventListener("click", async (e) => {
    const more = e.target.closest("a[data-more]");
    if (!more) return;
    e.preventDefault();
    const key = more.dataset.more;
    const r = await Live.get(`/ui/queue/more?${query({ state: key, cursor: more.dataset.cursor })}`);
    if (!r || !r.ok) { Live.banner(r ? `Could not load more (${r.status}).` : "The server cannot be reached."); return; }
    const section = rows.querySelector(`section[data-group="${key}"]`);
    const tmp = document.createElement("div");
    tmp.innerHTML = await r.text();
    const pager = tmp.querySelector(".pager-line");
    if (pager) pager.remove();
    section.querySelector("ul[data-list]").append(...tmp.children);
    const old = section.querySelector(".pager-line");
    if (old && pager) old.replaceWith(pager);
    section.dataset.extended = "1";
    Live.refreshTimes(section);
    updateSelection();
  });

  // -- selection and bulk actions --------------------------------------------------------------
  const count = bulk.querySelector(".selected-count");
  const ask = bulk.querySelector(".bulk-ask");
  const doneNote = bulk.querySelector(".bulk-done");
  let pending = null;

  function picked() { return [...rows.querySelectorAll(".pick:checked")].map((c) => c.value); }
  function updateSelection() {
    const n = picked().length;
    count.textContent = n ? `${n} selected.` : "None selected.";
    bulk.querySelectorAll("[data-scope=selection]").forEach((b) => { b.disabled = n === 0; });
    if (n === 0 && !rows.querySelector("[data-extended]")) stale.hidden = true;
  }
  rows.addEventListener("change", (e) => {
    const all = e.target.closest(".pick-all");
    if (all) {
      const section = all.closest("section");
      section.querySelectorAll(".pick").forEach((c) => { c.checked = all.checked; });
    }
    if (e.target.matches(".pick, .pick-all")) updateSelection();
  });

  function filterBody(action) {
    const f = filters();
    const out = { state: f.state === "all" ? null : f.state, type: f.type || null, project_id: f.project || null,
      q: f.q || null, submitted_by: f.submitted_by || null };
    // The page's time window is about finished jobs: what is running or waiting shows always.
    out.since = action === "retry" ? f.since || "24h" : "all";
    for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
    return out;
  }
  async function post(body) {
    const headers = { "Content-Type": "application/json", "Idempotency-Key": Live.idempotencyKey() };
    const r = await Live.get("/api/v1/jobs/bulk", { method: "POST", headers,
      body: JSON.stringify(body) });
    if (!r) return { error: "The server could not be reached; nothing was done." };
    let data = null;
    try { data = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) {
      const d = data && data.detail;
      return { error: typeof d === "string" ? d : Array.isArray(d) ? d.map((x) => x.msg).join("; ") : `The server answered ${r.status}.` };
    }
    return data;
  }
  function reasons(res) {
    const parts = Object.entries(res.skipped_reasons || {}).map(([why, n]) => `${Live.fmt(n)} ${why}`);
    return parts.length ? `Skipped: ${parts.join("; ")}.` : "";
  }
  function say(text) { doneNote.hidden = !text; doneNote.textContent = text || ""; }

  bulk.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-bulk]");
    if (btn) {
      const action = btn.dataset.bulk;
      const body = { action, dry_run: true };
      if (btn.dataset.scope === "selection") body.ids = picked();
      else body.filter = filterBody(action);
      say("");
      btn.disabled = true;
      const res = await post(body);
      btn.disabled = btn.dataset.scope === "selection" && picked().length === 0;
      if (res.error) { say(res.error); return; }
      const what = btn.dataset.scope === "selection" ? "selected" : "matching the filters";
      const verb = action === "retry" ? "Retry" : "Cancel";
      ask.querySelector(".q").textContent = res.eligible
        ? `${verb} ${Live.fmt(res.eligible)} of the ${Live.fmt(res.matched)} jobs ${what}?`
        : `Nothing to ${action}: none of the ${Live.fmt(res.matched)} jobs ${what} can be ${action === "retry" ? "retried" : "cancelled"}.`;
      const over = body.filter && res.matched > res.limit;
      ask.querySelector(".reasons").textContent = over
        ? `That is more than ${Live.fmt(res.limit)}, the most one action takes: narrow the filters.`
        : reasons(res);
      const confirm = ask.querySelector(".confirm");
      confirm.hidden = !res.eligible || over;
      confirm.textContent = `${verb} ${Live.fmt(res.eligible)} jobs`;
      pending = { ...body, dry_run: false };
      ask.hidden = false;
      confirm.focus();
      return;
    }
    if (e.target.closest(".back")) { ask.hidden = true; pending = null; return; }
    if (e.target.closest(".confirm") && pending) {
      const body = pending;
      pending = null;
      ask.hidden = true;
      const res = await post(body);
      if (res.error) { say(res.error); return; }
      const did = body.action === "retry" ? "Retried" : "Cancelled";
      const extra = body.action === "retry" && res.done ? ` (${Live.fmt(res.new_job_ids.length)} new jobs queued)` : "";
      say(`${did} ${Live.fmt(res.done)} of ${Live.fmt(res.matched)} jobs${extra}. ${reasons(res)}`.trim());
      rows.querySelectorAll(".pick:checked").forEach((c) => { c.checked = false; });
      rows.querySelectorAll("[data-extended]").forEach((s) => { delete s.dataset.extended; });
      updateSelection();
      refresh(true);
    }
  });

  // "Run now" on a schedule entry (admins): POST /api/v1/schedules/{name}/run.
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-run-schedule]");
    if (!btn) return;
    btn.disabled = true;
    const name = encodeURIComponent(btn.dataset.runSchedule);
    const r = await Live.get(`/api/v1/schedules/${name}/run`, { method: "POST", headers: { "Idempotency-Key": Live.idempotencyKey() } });
    if (!r || !r.ok) {
      let detail = r ? r.statusText : "the server could not be reached";
      try { if (r) detail = (await r.json()).detail; } catch (err) { /* not JSON */ }
      alert(`Run now failed: ${detail}`);
    }
    btn.disabled = false;
    soon();
  });
  document.addEventListener("live-refresh", soon);

  Live.connect("/ws/logs", {
    onEvent(ev) {
      const ctx = ev.context || {};
      const row = document.getElementById(`job-${ctx.task_id}`);
      if (ev.action_type === "PROGRESS" && row && row.dataset.state === "RUNNING") {
        Live.applyProgress(row, ctx, ev.message);
      } else if ((ev.action_type === "STATE" || !row) && ev.action_type !== "LOG" && concerns(ctx)) {
        soon();
      }
    },
    onReconnect: () => refresh(),
    poll: () => refresh(),
  });
  updateSelection();
})();
