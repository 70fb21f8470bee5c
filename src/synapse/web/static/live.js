// Live updates shared by the pages: the /ws/logs socket with reconnect and polling fallback,
// times in one labelled zone, progress bars with ETA, and the Cancel / Retry buttons (those that
// change much ask first, inline).
"use strict";
const Live = (() => {
  const fmt = (n) => Number(n).toLocaleString("en-US");

  function ago(iso) {
    if (!iso) return "";
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 45) return "just now";
    if (s < 90) return "a minute ago";
    if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
    if (s < 5400) return "an hour ago";
    if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  function span(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "";
    if (seconds < 60) return `${Math.ceil(seconds)} s`;
    const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    if (m < 60) return `${m} min ${s} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  // Every time on the pages reads in the browser's zone, labelled ("2026-12-01 14:05 CET");
  // the hover (title) gives the same moment in UTC and, for the schedule, the server's zone.
  const pad = (n) => String(n).padStart(2, "0");
  function zoneOf(date) {
    try {
      const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(date)
        .find((p) => p.type === "timeZoneName");
      return part ? part.value : "local time";
    } catch (e) { return "local time"; }
  }
  function local(iso, seconds = false) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ""}`;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time} ${zoneOf(d)}`;
  }
  function utc(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  }
  function refreshTimes(root = document) {
    root.querySelectorAll("time[data-ago]").forEach((el) => {
      if (!el.dataset.ago) return;
      el.textContent = ago(el.dataset.ago);
      el.title = `${local(el.dataset.ago)} · ${utc(el.dataset.ago)}`;
    });
    root.querySelectorAll("time[data-abs]").forEach((el) => {
      if (!el.dataset.abs) return;
      el.textContent = local(el.dataset.abs, el.hasAttribute("data-seconds"));
      const server = el.dataset.zone ? ` · server: ${el.dataset.zone}` : "";
      el.title = `${utc(el.dataset.abs)}${server}`;
    });
  }

  function text(message) {
    // "[<job_id>] Validated 2,000/3,000 rows... (66%)" -> "Validated 2,000/3,000 rows..."
    return String(message || "").replace(/^\[[^\]]*\]\s*/, "").replace(/\s*\(\d+%\)$/, "");
  }

  function applyProgress(box, ctx, message) {
    const pct = Math.max(Number(box.dataset.percent || 0), Number(ctx.percent || 0));
    box.dataset.percent = pct;
    const bar = box.querySelector(".bar");
    if (bar) bar.style.width = `${pct}%`;
    const prog = box.querySelector(".progress");
    if (prog) prog.setAttribute("aria-valuenow", pct);
    const p = box.querySelector(".pct");
    if (p) p.textContent = `${pct}%`;
    const counts = box.querySelector(".counts");
    // The counts with the job's unit, unless the message says them already with its own unit
    // (a package counts rows, then pages, in its messages: "Writing workbook... 312/540 rows").
    if (counts && ctx.total) {
      const said = message && text(message).includes(`${fmt(ctx.current)}/${fmt(ctx.total)}`);
      counts.textContent = said ? "" : `(${fmt(ctx.current)}/${fmt(ctx.total)} ${box.dataset.unit || "items"})`;
    }
    const msg = box.querySelector(".msg");
    if (msg && message) msg.textContent = text(message);
    const eta = box.querySelector(".eta");
    // The ETA follows the whole bar (every stage), not the counts of the current stage: a job
    // 8 % through, 10 s after it started, has about 115 s to go, whatever stage it is in.
    if (eta && box.dataset.started && pct >= 3 && pct < 100) {
      const elapsed = (Date.now() - Date.parse(box.dataset.started)) / 1000;
      eta.textContent = elapsed > 1 ? `· ETA ${span((elapsed * (100 - pct)) / pct)}` : "";
    } else if (eta) {
      eta.textContent = "";
    }
  }

  // The banner under the header, and the live dot's words (not its colour alone).
  function banner(textContent) {
    const el = document.getElementById("banner");
    if (!el) return;
    el.hidden = !textContent;
    el.textContent = textContent || "";
    const dot = document.getElementById("live");
    if (dot) {
      dot.classList.toggle("down", Boolean(textContent));
      const label = dot.querySelector(".live-text");
      if (label) label.textContent = textContent ? "Offline" : "Live";
      dot.title = textContent ? "Live updates: disconnected" : "Live updates: connected";
    }
  }

  // fetch that never throws: a network failure (the API is down) comes back as null.
  async function get(url, options = {}) {
    try { return await fetch(url, { credentials: "same-origin", ...options }); } catch (e) { return null; }
  }

  // connect(path, {onEvent, onReconnect, poll}) keeps a socket open; while it is down it says
  // so, calls poll() every 3 s, and calls onReconnect() when it is back, to catch up.
  function connect(path, { onEvent, onReconnect, poll }) {
    let delay = 500, timer = null, wasDown = false, ws = null, stopped = false;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    function open() {
      ws = new WebSocket(scheme + location.host + path);
      ws.onopen = () => {
        delay = 500;
        clearInterval(timer); timer = null;
        banner("");
        if (wasDown && onReconnect) onReconnect();
        wasDown = false;
      };
      ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { console.error(e); } };
      ws.onclose = () => {
        if (stopped) return;
        wasDown = true;
        banner("Live updates lost; reconnecting. Refreshing every 3 seconds meanwhile.");
        if (!timer && poll) timer = setInterval(poll, 3000);
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    open();
    return {
      close: () => {
        stopped = true;
        clearInterval(timer);
        banner("");
        if (ws) ws.close();
      },
    };
  }

  // A job action (cancel, retry, commit, undo), optionally with a JSON body. A refusal comes
  // back as {error} and is shown beside the button, not in a pop-up.
  // One Idempotency-Key per user action: a resent request answers the first one's job, never
  // a second job (docs/idempotency.md). randomUUID needs a secure context; else 128 random bits.
  function idempotencyKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function act(action, jobId, body) {
    const options = { method: "POST", credentials: "same-origin", headers: { "Idempotency-Key": idempotencyKey() } };
    if (body) { options.headers["Content-Type"] = "application/json"; options.body = body; }
    const r = await get(`/api/v1/jobs/${jobId}/${action}`, options);
    if (!r) return { error: `${action[0].toUpperCase()}${action.slice(1)} failed: the server could not be reached.` };
    if (!r.ok) {
      let detail = r.statusText;
      try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
      return { error: `${action[0].toUpperCase()}${action.slice(1)} refused: ${detail}` };
    }
    return r.json();
  }

  function say(btn, text) {
    const holder = btn.closest(".actions") || btn.parentElement;
    let note = holder.querySelector(".act-error");
    if (!text) { if (note) note.remove(); return; }
    if (!note) { note = document.createElement("p"); note.className = "error act-error"; holder.appendChild(note); }
    note.textContent = text;
  }

  // A button with data-confirm asks first, inline beside it (nothing pops up): the question
  // and "Yes" (the same action, confirmed) or "No".
  function askFirst(btn) {
    const holder = btn.closest(".actions") || btn.parentElement;
    const old = holder.parentElement.querySelector(".inline-ask");
    if (old) old.remove();
    const box = document.createElement("div");
    box.className = "ask inline-ask";
    box.setAttribute("role", "alertdialog");
    const q = document.createElement("p");
    q.className = "q";
    q.textContent = btn.dataset.confirm;
    const yes = btn.cloneNode(true);
    delete yes.dataset.confirm;
    yes.dataset.confirmed = "1";
    yes.classList.add("primary-ish");
    yes.textContent = btn.dataset.yes || `Yes, ${btn.textContent.trim().toLowerCase()}`;
    const no = document.createElement("button");
    no.type = "button";
    no.className = "button";
    no.textContent = "No";
    no.addEventListener("click", () => { box.remove(); btn.focus(); });
    const row = document.createElement("div");
    row.className = "actions";
    row.append(yes, no);
    box.append(q, row);
    holder.after(box);
    yes.focus();
  }

  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-action]");
    if (!btn) return;
    if (btn.dataset.confirm && !btn.dataset.confirmed) { askFirst(btn); return; }
    const asked = btn.closest(".inline-ask");
    btn.disabled = true;
    const done = await act(btn.dataset.action, btn.dataset.job, btn.dataset.body);
    btn.disabled = false;
    if (done && done.error) { say(btn, done.error); return; }
    say(btn, "");
    if (asked) asked.remove();
    const started = done && (done.job_id || (btn.dataset.action === "retry" && done.id));
    if (started) {
      document.dispatchEvent(new CustomEvent("job-retried", { detail: { ...done, id: started } }));
    }
    document.dispatchEvent(new Event("live-refresh"));
  });

  setInterval(() => refreshTimes(), 10000);
  document.addEventListener("DOMContentLoaded", () => refreshTimes());
  return { fmt, ago, span, text, local, utc, refreshTimes, applyProgress, connect, act, banner, get, idempotencyKey };
})();
