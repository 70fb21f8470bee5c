// The job page: live bar, live log lines, and the page re-rendered when the state changes.
"use strict";
(() => {
  const holder = document.getElementById("job-body");
  const jobId = holder.dataset.job;
  const logs = document.getElementById("log-lines");

  // A failed fetch (the API is down) is not an error in the console: the banner says it.
  function reachable(r) {
    if (!r) {
      Live.banner("Live updates lost and the server cannot be reached; retrying every 3 seconds.");
      return false;
    }
    return true;  // the banner goes when the live socket is back
  }
  async function refreshBody() {
    const r = await Live.get(`/ui/jobs/${jobId}/body`);
    if (!reachable(r)) return;
    if (r.ok) { holder.innerHTML = await r.text(); Live.refreshTimes(holder); }
  }
  async function refreshLogs() {
    const r = await Live.get(`/api/v1/jobs/${jobId}/logs`);
    if (!reachable(r) || !r.ok) return;
    logs.textContent = "";
    for (const line of (await r.json()).items) addLog(line.at, line.level, line.message);
  }
  function addLog(at, level, message) {
    const empty = document.getElementById("log-empty");
    if (empty) empty.hidden = true;
    const tr = document.createElement("tr");
    tr.className = `lvl-${String(level).toLowerCase()}`;
    const cells = [Live.local(at, true), level, message];
    cells.forEach((v, i) => {
      const td = document.createElement("td");
      td.textContent = v;
      if (i === 0) { td.className = "muted nowrap"; td.title = Live.utc(at); }
      if (i === 1) td.className = "lvl";
      tr.appendChild(td);
    });
    logs.appendChild(tr);
  }
  async function catchUp() { await refreshBody(); await refreshLogs(); }
  // A running job's duration counts on (it was the time of the page's last render).
  setInterval(() => {
    const since = holder.querySelector(".running-for");
    if (since) since.textContent = Live.span((Date.now() - Date.parse(since.dataset.since)) / 1000);
  }, 1000);
  document.addEventListener("live-refresh", refreshBody);
  document.addEventListener("job-retried", (e) => { location.href = `/jobs/${e.detail.id}`; });

  Live.connect(`/ws/logs?job_id=${encodeURIComponent(jobId)}`, {
    onEvent(ev) {
      const ctx = ev.context || {};
      const box = holder.querySelector(".job");
      if (ev.action_type === "PROGRESS" && box) Live.applyProgress(box, ctx, ev.message);
      else if (ev.action_type === "LOG") addLog(ev.timestamp, ev.level, Live.text(ev.message));
      else if (ev.action_type === "STATE") {
        // A state change writes its own log lines (started, retrying, error, cancelled).
        refreshLogs();
        if (box && ctx.state && ctx.state !== box.dataset.state) refreshBody();
      }
    },
    onReconnect: catchUp,
    poll: catchUp,
  });
})();
