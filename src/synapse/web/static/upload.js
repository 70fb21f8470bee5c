// The upload page: send the file, then follow the job live to its end and show a summary.
"use strict";
(() => {
  const form = document.getElementById("upload");
  const card = document.getElementById("progress-card");
  const summary = document.getElementById("summary");
  const stateBadge = document.getElementById("job-state");
  let socket = null;

  function setState(state) {
    stateBadge.textContent = state.toLowerCase();
    stateBadge.className = `badge ${{ QUEUED: "queued", RUNNING: "running", RETRYING: "retrying", SUCCESS: "success", FAILURE: "failure", CANCELLED: "cancelled" }[state] || "queued"}`;
    card.dataset.state = state;
  }

  function cell(tr, value) { const td = document.createElement("td"); td.textContent = value ?? ""; tr.appendChild(td); }

  async function finish(jobId) {
    if (socket) socket.close();
    const job = await (await fetch(`/api/v1/jobs/${jobId}`, { credentials: "same-origin" })).json();
    setState(job.state);
    const box = card;
    Live.applyProgress(box, { percent: job.percent, current: job.current, total: job.total }, job.message);
    summary.hidden = false;
    summary.textContent = "";
    const p = document.createElement("p");
    const r = job.result || {};
    if (job.state === "SUCCESS") {
      p.textContent = `${r.dry_run ? "Dry run: would create" : "Created"} ${Live.fmt(r.created_count)}, ` +
        `${r.dry_run ? "would update" : "updated"} ${Live.fmt(r.updated_count)} of ${Live.fmt(r.total_rows)} rows` +
        (r.error_count ? `; ${Live.fmt(r.error_count)} rows skipped` : "") + ` in ${r.duration_seconds} s.`;
    } else if (job.state === "FAILURE") {
      p.className = "error";
      p.textContent = job.error;
    } else {
      p.textContent = job.message;
    }
    summary.appendChild(p);
    if (r.errors && r.errors.length) {
      const a = document.createElement("a");
      a.className = "button"; a.href = `/api/v1/jobs/${jobId}/errors?format=csv`;
      a.textContent = `Download all ${Live.fmt(r.error_count)} row errors (CSV)`;
      summary.appendChild(a);
      const table = document.createElement("table");
      table.className = "rows";
      const head = table.createTHead().insertRow();
      ["Row", "Column", "Value", "Reason"].forEach((h) => { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
      const body = table.createTBody();
      r.errors.slice(0, 20).forEach((e) => { const tr = body.insertRow(); [e.row, e.column, e.value, e.reason].forEach((v) => cell(tr, v)); });
      summary.appendChild(table);
    }
  }

  function follow(jobId) {
    let over = false;
    const poll = async () => {
      const r = await fetch(`/api/v1/ingestion/job-status/${jobId}`, { credentials: "same-origin" });
      if (!r.ok) return;
      const s = await r.json();
      Live.applyProgress(card, s, s.message);
      if (["SUCCESS", "FAILURE", "CANCELLED"].includes(s.state) && !over) { over = true; finish(jobId); }
    };
    socket = Live.connect(`/ws/logs?job_id=${encodeURIComponent(jobId)}`, {
      onEvent(ev) {
        const ctx = ev.context || {};
        if (ctx.state) setState(ctx.state);
        if (ev.action_type === "PROGRESS" || ev.action_type === "SNAPSHOT") Live.applyProgress(card, ctx, ev.message);
        if (["SUCCESS", "FAILURE", "CANCELLED"].includes(ctx.state) && !over) { over = true; finish(jobId); }
      },
      onReconnect: poll,
      poll,
    });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    summary.hidden = true;
    const data = new FormData(form);
    if (!data.get("skip_invalid")) data.delete("skip_invalid");
    try {
      const r = await fetch("/api/v1/ingestion/upload-csv", { method: "POST", body: data, credentials: "same-origin" });
      const body = await r.json();
      if (!r.ok) {
        const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
        alert(`Upload refused (${r.status}): ${detail}`);
        return;
      }
      card.hidden = false;
      card.dataset.percent = 0;
      Live.applyProgress(card, { percent: 0 }, "Queued…");
      setState("QUEUED");
      const link = document.getElementById("job-link");
      link.href = `/jobs/${body.job_id}`;
      link.textContent = body.job_id.slice(0, 8);
      follow(body.job_id);
    } finally {
      button.disabled = false;
    }
  });
})();
