// The Webhooks page: add a hook (its secret shown once), Send test, Delete (asked inline), and
// the chosen hook's delivery log refreshed from /api/v1/webhooks/{id}/deliveries every 2 s.
// Problems are said in the page, never as an uncaught rejection.
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const logBox = $("#delivery-log");

  async function call(url, options = {}) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 10000);
    try {
      const r = await fetch(url, {
        credentials: "same-origin", signal: abort.signal,
        headers: { Accept: "application/json", "Content-Type": "application/json" }, ...options,
      });
      let body = null;
      try { body = await r.json(); } catch (e) { /* 204, or not JSON */ }
      return { ok: r.ok, status: r.status, body };
    } catch (e) {
      return { ok: false, status: 0, body: null };
    } finally {
      clearTimeout(timer);
    }
  }

  function problem(res) {
    const el = $("#hooks-error");
    if (!res) { el.hidden = true; el.textContent = ""; return; }
    let text = res.status === 0 ? "The server cannot be reached." : `HTTP ${res.status}`;
    const d = res.body && res.body.detail;
    if (typeof d === "string") text = d;
    else if (Array.isArray(d) && d.length) text = d.map((x) => `${(x.loc || []).slice(-1)[0]}: ${x.msg}`).join("; ");
    el.textContent = text;
    el.hidden = false;
  }

  const cell = (text, cls) => {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  };
  const hhmmss = (iso) => (iso ? iso.slice(11, 19) : "");

  function logRow(a) {
    const tr = document.createElement("tr");
    tr.className = a.ok ? "ok" : "bad";
    tr.dataset.delivery = a.delivery_id;
    tr.append(cell(a.at.slice(0, 19).replace("T", " "), "nowrap"), cell(a.event));
    const job = cell("", "mono");
    if (a.job_id) {
      const link = document.createElement("a");
      link.href = `/jobs/${a.job_id}`;
      link.textContent = a.job_id.slice(0, 8);
      job.append(link);
    }
    tr.append(job, cell(String(a.attempt)));
    tr.append(cell(a.status_code !== null ? String(a.status_code) : a.error || "", "answer"));
    tr.append(cell(`${a.latency_ms} ms`));
    tr.append(cell(a.next_attempt_at ? hhmmss(a.next_attempt_at) : (a.ok ? "delivered" : "—"), "nowrap"));
    return tr;
  }

  async function loadLog() {
    const id = logBox.dataset.hook;
    if (!id) return;
    const res = await call(`/api/v1/webhooks/${id}/deliveries?limit=50`);
    if (!res.ok) { if (res.status !== 404) problem(res); return; }
    const body = $("#delivery-rows tbody");
    body.replaceChildren(...res.body.items.map(logRow));
    if (!res.body.items.length) {
      const tr = document.createElement("tr");
      tr.className = "none";
      const td = cell("No deliveries yet. Send test POSTs a ping.", "muted");
      td.colSpan = 7;
      tr.append(td);
      body.append(tr);
    }
    $(".log-total", logBox).textContent = res.body.total;
    $(".log-of", logBox).textContent = `of hook ${id}`;
    $("#log-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    const row = document.querySelector(`#hook-rows tr[data-hook="${id}"] .pending`);
    if (row) row.textContent = res.body.pending;
  }

  async function sendTest(button) {
    button.disabled = true;
    const res = await call(`/api/v1/webhooks/${button.dataset.hook}/test`, { method: "POST" });
    button.disabled = false;
    if (!res.ok) { problem(res); return; }
    problem(null);
    logBox.dataset.hook = button.dataset.hook;
    loadLog();
  }

  async function remove(row) {
    const id = row.dataset.hook;
    const res = await call(`/api/v1/webhooks/${id}`, { method: "DELETE" });
    if (!res.ok) { problem(res); return; }
    row.remove();
    if (logBox.dataset.hook === id) window.location.assign("/webhooks");
  }

  function hookRow(h) {
    const tr = document.createElement("tr");
    tr.dataset.hook = h.id;
    const link = document.createElement("a");
    link.href = `/webhooks?hook=${h.id}`;
    link.textContent = h.url;
    const url = cell("", "mono");
    url.append(link);
    tr.append(cell(String(h.id), "mono"), url, cell(h.events.join(", ")), cell(h.project_id || "every project"));
    tr.append(cell("0", "pending"), cell(`${h.created_at.slice(0, 16).replace("T", " ")} ${h.created_by || ""}`, "nowrap small"));
    const actions = cell("", "nowrap");
    actions.innerHTML = '<button class="button send-test" type="button">Send test</button> '
      + '<button class="button delete-hook" type="button">Delete</button> <span class="confirm" hidden>'
      + 'Delete this hook and its log? <button class="button confirm-yes" type="button">Delete</button> '
      + '<button class="button confirm-no" type="button">Keep</button></span>';
    actions.querySelectorAll("button").forEach((b) => { b.dataset.hook = h.id; });
    tr.append(actions);
    return tr;
  }

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("button");
    if (!button) return;
    const row = button.closest("tr[data-hook]");
    if (button.classList.contains("send-test")) sendTest(button);
    else if (button.classList.contains("delete-hook") && row) {
      $(".confirm", row).hidden = false;
      button.hidden = true;
    } else if (button.classList.contains("confirm-no") && row) {
      $(".confirm", row).hidden = true;
      $(".delete-hook", row).hidden = false;
    } else if (button.classList.contains("confirm-yes") && row) remove(row);
  });

  $("#hook-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const events = [...form.querySelectorAll("input[name=events]:checked")].map((i) => i.value);
    const project = form.project_id.value.trim();
    const res = await call("/api/v1/webhooks", {
      method: "POST",
      body: JSON.stringify({ url: form.url.value.trim(), events, project_id: project || null }),
    });
    if (!res.ok) { problem(res); return; }
    problem(null);
    const h = res.body;
    const box = $("#hook-secret");
    $(".hook-id", box).textContent = h.id;
    $(".secret", box).textContent = h.secret;  // shown this once; the API never answers it again
    box.hidden = false;
    const tbody = $("#hook-rows tbody");
    const empty = tbody.querySelector("tr:not([data-hook])");
    if (empty) empty.remove();
    tbody.append(hookRow(h));
    form.reset();
    if (!logBox.dataset.hook) { logBox.dataset.hook = h.id; loadLog(); }
  });

  let busy = false;
  setInterval(async () => {
    if (busy || document.hidden) return;
    busy = true;
    try { await loadLog(); } finally { busy = false; }
  }, 2000);
})();
