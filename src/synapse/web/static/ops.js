// The Queues and Workers pages: refreshed from /api/v1/queues and /api/v1/workers every few
// seconds without reloading; Pause / Resume (admins) ask first, inline. Problems are said in the
// page (never an uncaught promise rejection).
"use strict";
(() => {
  const fmt = (n) => Number(n).toLocaleString("en-US");
  const $ = (root, sel) => root.querySelector(sel);

  function waitText(seconds) {
    if (!(seconds > 0)) return "—";
    if (seconds < 60) return `${Math.ceil(seconds)} s`;
    const total = Math.round(seconds), m = Math.floor(total / 60), s = total % 60;
    if (m < 60) return `${m} min ${s} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function problem(text) {
    const el = document.getElementById("ops-error");
    if (!el) return;
    el.hidden = !text;
    el.textContent = text || "";
  }

  function updated() {
    const el = document.getElementById("ops-updated");
    if (el) el.textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  // fetch that never throws: {ok, status, body}; status 0 when the server cannot be reached or
  // does not answer within 10 s (a hung server must not stop the refresh for good).
  async function call(url, options = {}) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 10000);
    let r;
    try {
      r = await fetch(url, {
        credentials: "same-origin", headers: { Accept: "application/json" }, signal: abort.signal, ...options,
      });
    } catch (e) {
      return { ok: false, status: 0, body: null };
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    return { ok: r.ok, status: r.status, body };
  }

  function why(res) {
    if (res.status === 0) return "The server cannot be reached; retrying.";
    const detail = res.body && typeof res.body.detail === "string" ? res.body.detail : `HTTP ${res.status}`;
    return detail;
  }

  // Poll `load` every `seconds`, one call at a time, starting at once.
  function every(seconds, load) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await load(); } catch (e) { problem(`Could not refresh: ${e}`); } finally { busy = false; }
    };
    tick();
    setInterval(tick, seconds * 1000);
    document.addEventListener("visibilitychange", tick);
  }

  // -- Queues -------------------------------------------------------------------------------

  function paintQueue(row, q) {
    row.dataset.paused = q.paused ? "true" : "false";
    const state = $(row, ".q-status .state");
    state.className = `state ${q.paused ? "paused" : "active"}`;
    state.textContent = q.paused ? "Paused" : "Running";
    const since = $(row, ".q-since");
    const pausedFor = q.paused_at ? waitText(Math.max(1, (Date.now() - Date.parse(q.paused_at)) / 1000)) : "";
    since.textContent = q.paused
      ? `by ${q.paused_by || "unknown"}${pausedFor ? `, ${pausedFor} ago` : ""}${q.held ? ` · ${fmt(q.held)} held` : ""}`
      : "";
    if (q.paused_at) since.title = `paused at ${new Date(q.paused_at).toString()}`;
    $(row, ".q-depth").textContent = fmt(q.depth);
    $(row, ".q-wait").textContent = q.depth ? waitText(q.oldest_wait_seconds) : "—";
    $(row, ".q-running").textContent = fmt(q.running);
    $(row, ".q-retrying").textContent = fmt(q.retrying);
    $(row, ".q-scheduled").textContent = fmt(q.scheduled);
    $(row, ".q-broker").textContent = q.broker_depth == null ? "—" : fmt(q.broker_depth);
    const toggle = $(row, ".q-toggle");
    if (toggle && !toggle.disabled && $(row, ".q-confirm").hidden) {
      toggle.dataset.op = q.paused ? "resume" : "pause";
      toggle.textContent = `${q.paused ? "Resume" : "Pause"} ${q.name}`;
    }
  }

  function queuesPage(page) {
    const table = document.getElementById("queue-table");
    const load = async () => {
      const res = await call("/api/v1/queues");
      if (!res.ok || !res.body) { problem(`Could not refresh the queues: ${why(res)}`); return; }
      problem("");
      for (const q of res.body.items) {
        const row = table.querySelector(`tr[data-queue="${CSS.escape(q.name)}"]`);
        if (row) paintQueue(row, q);
      }
      updated();
    };
    table.addEventListener("click", async (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      const row = button.closest("tr");
      const name = row.dataset.queue;
      const toggle = $(row, ".q-toggle"), confirmBox = $(row, ".q-confirm"), note = $(row, ".q-note");
      if (button.classList.contains("q-toggle")) {
        const action = toggle.dataset.op;
        $(row, ".q-question").textContent = action === "pause"
          ? `Pause ${name}? None of its queued jobs will start until it is resumed; running ones finish.`
          : `Resume ${name}? Its waiting jobs start again.`;
        const yes = $(row, ".q-yes");
        yes.textContent = action === "pause" ? `Yes, pause ${name}` : `Yes, resume ${name}`;
        yes.dataset.op = action;
        note.textContent = "";
        toggle.hidden = true;
        confirmBox.hidden = false;
        yes.focus();
        return;
      }
      if (button.classList.contains("q-no")) {
        confirmBox.hidden = true;
        toggle.hidden = false;
        toggle.focus();
        return;
      }
      if (button.classList.contains("q-yes")) {
        const action = button.dataset.op;
        button.disabled = true;
        const res = await call(`/api/v1/queues/${encodeURIComponent(name)}/${action}`, { method: "POST" });
        button.disabled = false;
        confirmBox.hidden = true;
        toggle.hidden = false;
        if (!res.ok || !res.body) {
          note.textContent = `${action === "pause" ? "Pause" : "Resume"} refused: ${why(res)}`;
          note.classList.add("error");
          return;
        }
        note.classList.remove("error");
        const body = res.body;
        note.textContent = action === "pause"
          ? (body.changed ? `Paused ${name}.` : `${name} was already paused.`)
          : (body.changed ? `Resumed ${name}` : `${name} was not paused`) +
            (body.released ? `; ${fmt(body.released)} held jobs sent again.` : ".");
        paintQueue(row, body);
        toggle.focus();
      }
    });
    every(Number(page.dataset.refresh || 3), load);
  }

  // -- Workers ------------------------------------------------------------------------------

  function cell(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = text;
    return el;
  }

  function workerRow(w) {
    const tr = document.createElement("tr");
    tr.dataset.worker = w.name;
    const name = cell("th", "w-name", w.name);
    name.scope = "row";
    tr.append(name, cell("td", "w-host", w.hostname), cell("td", "num w-pid", String(w.pid)),
      cell("td", "num w-concurrency", String(w.concurrency)));
    const queues = cell("td", "w-queues", w.queues.join(", ") || "none");
    if (w.paused_queues && w.paused_queues.length) {
      queues.append(" ", cell("span", "small muted", `(paused: ${w.paused_queues.join(", ")})`));
    }
    tr.append(queues);
    const active = cell("td", "w-active");
    if (!w.active.length) active.append(cell("span", "muted", "idle"));
    w.active.forEach((id, i) => {
      if (i) active.append(", ");
      const a = document.createElement("a");
      a.href = `/jobs/${encodeURIComponent(id)}`;
      a.title = id;
      a.append(cell("code", null, id.slice(0, 8)));
      active.append(a);
    });
    tr.append(active);
    const rss = cell("td", "num w-rss", `${fmt(Math.round(w.rss_bytes / 1048576))} MB`);
    rss.title = `${fmt(w.rss_bytes)} bytes: the main process and its pool`;
    tr.append(rss);
    const seen = cell("td", "w-seen");
    const time = cell("time", null, `${Math.round(w.seen_seconds_ago)} s ago`);
    time.dateTime = w.last_seen;
    time.title = new Date(w.last_seen).toString();
    seen.append(time);
    tr.append(seen);
    return tr;
  }

  function workersPage(page) {
    const body = document.querySelector("#worker-table tbody");
    const count = document.getElementById("worker-count");
    const load = async () => {
      const res = await call("/api/v1/workers");
      if (!res.ok || !res.body) { problem(`Could not refresh the workers: ${why(res)}`); return; }
      problem("");
      const rows = res.body.items.map(workerRow);
      if (!rows.length) {
        const tr = document.createElement("tr");
        tr.className = "none";
        const td = cell("td", "muted", "No worker is running. Start one with synapse worker (or make up).");
        td.colSpan = 8;
        tr.append(td);
        rows.push(tr);
      }
      body.replaceChildren(...rows);
      if (count) count.textContent = String(res.body.total);
      updated();
    };
    every(Number(page.dataset.refresh || 3), load);
  }

  const queues = document.getElementById("queues-page");
  if (queues) queuesPage(queues);
  const workers = document.getElementById("workers-page");
  if (workers) workersPage(workers);
})();
