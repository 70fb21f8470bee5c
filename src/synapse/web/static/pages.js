// Helpers of the Import, Imports and Assets pages: DOM building, JSON calls whose failures carry
// the API's `detail`, following a job live (socket, polling fallback), paging, change lists.
// Nothing here pops up a dialog: questions and errors are shown inline, beside what they concern.
"use strict";
const Pages = (() => {
  const TERMINAL = ["SUCCESS", "FAILURE", "CANCELLED"];
  const BADGE = { SCHEDULED: "queued", QUEUED: "queued", RUNNING: "running", RETRYING: "retrying", SUCCESS: "success", FAILURE: "failure", CANCELLED: "cancelled" };

  // el("a", {href: "/x", class: "button"}, "text", otherNode): attributes, properties (on*), children.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function clear(node, ...children) { node.textContent = ""; node.append(...children.filter((c) => c !== null && c !== undefined)); return node; }

  // The text of an error answer: `detail` as a string, or FastAPI's list of {loc, msg}.
  function detailOf(body, status, statusText) {
    const d = body && body.detail;
    if (typeof d === "string" && d) return d;
    if (Array.isArray(d) && d.length) {
      return d.map((x) => {
        const where = Array.isArray(x.loc) ? x.loc.filter((p) => p !== "body" && p !== "query").join(".") : "";
        return where ? `${where}: ${x.msg}` : String(x.msg || x);
      }).join("; ");
    }
    if (status === 413) return "The file is larger than the upload limit.";
    if (status === 401) return "Your session has ended: log in again.";
    if (!status) return "The server could not be reached; check the connection and try again.";
    return `The server answered ${status}${statusText ? ` ${statusText}` : ""}.`;
  }

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  // One Idempotency-Key per user action (live.js, loaded by every page; docs/idempotency.md).
  const idempotencyKey = () => Live.idempotencyKey();

  // api(path, {method, form, json, query}) -> the JSON answer; throws ApiError(detail, status).
  async function api(path, { method = "GET", form = null, json = undefined, query = null } = {}) {
    let url = path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
      const s = q.toString();
      if (s) url += (url.includes("?") ? "&" : "?") + s;
    }
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method === "POST") init.headers["Idempotency-Key"] = idempotencyKey();  // one per call
    if (form) init.body = form;
    if (json !== undefined) { init.body = JSON.stringify(json); init.headers["Content-Type"] = "application/json"; }
    let r;
    try { r = await fetch(url, init); } catch (e) { throw new ApiError(detailOf(null, 0), 0); }
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw new ApiError(detailOf(body, r.status, r.statusText), r.status);
    return body;
  }

  // send(path, form, onProgress(loaded, total)) -> JSON: a multipart POST whose upload progress
  // is reported while the file is sent (fetch cannot report it; XMLHttpRequest can).
  function send(path, form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.withCredentials = true;
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Idempotency-Key", idempotencyKey());
      xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded, e.total); };
      xhr.upload.onload = () => { if (onProgress) onProgress(-1, -1); };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new ApiError(detailOf(body, xhr.status, xhr.statusText), xhr.status));
      };
      xhr.onerror = () => reject(new ApiError(detailOf(null, 0), 0));
      xhr.send(form);
    });
  }

  const MB = 1024 * 1024;
  const mb = (bytes) => (bytes / MB).toFixed(1);
  const size = (bytes) => (bytes >= MB / 10 ? `${mb(bytes)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`);

  function badge(state) {
    return el("span", { class: `badge ${BADGE[state] || "queued"}`, text: String(state || "").toLowerCase() });
  }
  function setBadge(node, state) {
    node.classList.remove(...Object.values(BADGE));
    node.classList.add("badge", BADGE[state] || "queued");
    node.textContent = String(state || "").toLowerCase();
  }

  // A <time> the shared Live.refreshTimes keeps current: relative ("5 minutes ago") or absolute.
  function when(iso, relative = true) {
    if (!iso) return el("span", { class: "muted", text: "—" });
    const t = el("time", relative ? { "data-ago": iso, title: iso } : { "data-abs": iso, title: iso });
    t.textContent = relative ? Live.ago(iso) : new Date(iso).toLocaleString();
    return t;
  }
  const date = (iso) => (iso ? new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) : "");

  function short(id) { return String(id || "").slice(0, 8); }
  function jobLink(id, text) { return el("a", { href: `/jobs/${encodeURIComponent(id)}`, class: "mono", text: text || short(id) }); }

  // A value as the pages show it: nothing is an em dash, objects are JSON.
  function show(v) {
    if (v === null || v === undefined || v === "") return "—";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  // One line per changed field: "field: old → new". A created asset's fields show their value
  // alone, a deleted one's the value it had; a value without old/new shows as it is.
  function changeList(changes, action = "") {
    const list = el("ul", { class: "changes" });
    const line = (field, ...rest) => list.append(el("li", {}, el("span", { class: "field", text: field }), ": ", ...rest));
    for (const [field, change] of Object.entries(changes || {})) {
      const pair = change && typeof change === "object" && !Array.isArray(change) && ("old" in change || "new" in change);
      if (pair && action === "created" && (change.old === null || change.old === undefined)) {
        if (change.new !== null && change.new !== undefined) line(field, el("span", { class: "new", text: show(change.new) }));
      } else if (pair && action === "deleted" && (change.new === null || change.new === undefined)) {
        if (change.old !== null && change.old !== undefined) line(field, el("span", { class: "old", text: show(change.old) }));
      } else if (pair) {
        line(field, el("span", { class: "old", text: show(change.old) }), el("span", { class: "arrow", text: " → " }),
          el("span", { class: "new", text: show(change.new) }));
      } else {
        line(field, el("span", { class: "new", text: show(change) }));
      }
    }
    return list;
  }

  // A pager: "1–50 of 20,000" with Previous / Next; onPage(offset) loads that page.
  function pager(node, { offset, limit, total, shown, onPage }) {
    const from = total ? offset + 1 : 0;
    const to = offset + (shown ?? Math.min(limit, Math.max(0, total - offset)));
    clear(node,
      el("button", { type: "button", class: "button", disabled: offset <= 0, onclick: () => onPage(Math.max(0, offset - limit)) }, "‹ Previous"),
      el("span", { class: "range", text: total ? `${Live.fmt(from)}–${Live.fmt(to)} of ${Live.fmt(total)}` : "none" }),
      el("button", { type: "button", class: "button", disabled: to >= total, onclick: () => onPage(offset + limit) }, "Next ›"));
    node.hidden = total <= limit && offset === 0;
  }

  // An inline question (never a dialog): resolves true on yes, false on no.
  function ask(node, text, yes, no = "Cancel") {
    return new Promise((resolve) => {
      const done = (answer) => { node.hidden = true; node.textContent = ""; resolve(answer); };
      clear(node, el("p", { class: "q", text }),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "button primary-ish", onclick: () => done(true) }, yes),
          el("button", { type: "button", class: "button", onclick: () => done(false) }, no)));
      node.hidden = false;
      const first = node.querySelector("button");
      if (first) first.focus();
    });
  }

  function progressBox(unit = "rows") {
    return el("div", { class: "follow", dataset: { percent: "0", unit } },
      el("div", { class: "line" }, el("span", { class: "badge queued state", text: "queued" }), el("span", { class: "job-ref small muted" })),
      el("div", { class: "progress", role: "progressbar", "aria-label": "Progress of the job", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" },
        el("div", { class: "bar", style: "width: 0%" })),
      el("div", { class: "line small" }, el("span", { class: "pct", text: "0%" }), el("span", { class: "counts muted" }),
        el("span", { class: "msg", text: "Queued…" }), el("span", { class: "eta muted" })));
  }

  // follow(jobId, box, onDone(job)): live progress into `box` (made by progressBox) until the job
  // ends, then the job as the API has it. The socket drops: Live polls and catches up.
  function follow(jobId, box, onDone) {
    let over = false, safety = null;
    box.dataset.percent = "0";
    box.dataset.job = jobId;
    box.dataset.started = new Date().toISOString();
    const stateNode = box.querySelector(".state");
    const ref = box.querySelector(".job-ref");
    if (ref) clear(ref, "job ", jobLink(jobId));
    const bar = box.querySelector(".progress");
    if (bar) bar.setAttribute("aria-label", `Progress of job ${String(jobId).slice(0, 8)}`);
    const state = (s) => { if (s && stateNode) { setBadge(stateNode, s); box.dataset.state = s; } };
    async function end() {
      if (over) return;
      over = true;
      clearInterval(safety);
      socket.close();
      let job;
      try { job = await api(`/api/v1/jobs/${encodeURIComponent(jobId)}`); } catch (e) { job = { id: jobId, state: "FAILURE", error: e.message }; }
      state(job.state);
      Live.applyProgress(box, { percent: job.state === "SUCCESS" ? 100 : job.percent, current: job.current, total: job.total }, job.message);
      box.classList.add("done");  // what it came to is told below the bar, once
      onDone(job);
    }
    async function poll() {
      if (over) return;
      try {
        const job = await api(`/api/v1/jobs/${encodeURIComponent(jobId)}`);
        state(job.state);
        Live.applyProgress(box, job, job.message);
        if (TERMINAL.includes(job.state)) end();
      } catch (e) { /* the socket or the next poll will tell */ }
    }
    const socket = Live.connect(`/ws/logs?job_id=${encodeURIComponent(jobId)}`, {
      onEvent(ev) {
        const ctx = ev.context || {};
        if (ctx.state) state(ctx.state);
        if (ev.action_type === "PROGRESS" || ev.action_type === "SNAPSHOT") Live.applyProgress(box, ctx, ev.message);
        if (TERMINAL.includes(ctx.state)) end();
      },
      onReconnect: poll,
      poll,
    });
    safety = setInterval(poll, 5000);  // a last word the socket missed still arrives
    return { stop() { over = true; clearInterval(safety); socket.close(); } };
  }

  function errorTable(items) {
    return el("table", { class: "rows" },
      el("thead", {}, el("tr", {}, ["Row", "Column", "Value", "Reason"].map((h) => el("th", { text: h })))),
      el("tbody", {}, items.map((e) => el("tr", {}, el("td", { class: "num", text: e.row ?? "" }), el("td", { text: e.column ?? "" }),
        el("td", { text: e.value ?? "" }), el("td", { text: e.reason ?? "" })))));
  }

  function scroll(table) { return el("div", { class: "scroll" }, table); }

  return { el, clear, api, send, ApiError, detailOf, mb, size, badge, setBadge, when, date, short, jobLink, show, changeList, pager, ask, progressBox, follow, errorTable, scroll, TERMINAL };
})();
