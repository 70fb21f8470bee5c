// Live updates shared by the pages: the /ws/logs socket with reconnect and polling fallback,
// relative times, progress bars with ETA, and the Cancel / Retry buttons.
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

  function refreshTimes(root = document) {
    root.querySelectorAll("time[data-ago]").forEach((el) => {
      el.textContent = ago(el.dataset.ago);
      el.title = el.dataset.ago;
    });
    root.querySelectorAll("time[data-abs]").forEach((el) => {
      if (!el.dataset.abs) return;
      el.textContent = new Date(el.dataset.abs).toLocaleString();
      el.title = el.dataset.abs;
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
    if (counts && ctx.total) counts.textContent = `(${fmt(ctx.current)}/${fmt(ctx.total)} ${box.dataset.unit || "items"})`;
    const msg = box.querySelector(".msg");
    if (msg && message) msg.textContent = text(message);
    const eta = box.querySelector(".eta");
    if (eta && box.dataset.started && ctx.total && ctx.current > 0 && ctx.current < ctx.total) {
      const elapsed = (Date.now() - Date.parse(box.dataset.started)) / 1000;
      const rate = ctx.current / Math.max(elapsed, 0.001);
      eta.textContent = `· ETA ${span((ctx.total - ctx.current) / rate)}`;
    } else if (eta) {
      eta.textContent = "";
    }
  }

  function banner(textContent) {
    const el = document.getElementById("banner");
    if (!el) return;
    el.hidden = !textContent;
    el.textContent = textContent || "";
    const dot = document.getElementById("live");
    if (dot) dot.classList.toggle("down", Boolean(textContent));
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
  async function act(action, jobId, body) {
    const options = { method: "POST", credentials: "same-origin" };
    if (body) { options.headers = { "Content-Type": "application/json" }; options.body = body; }
    const r = await fetch(`/api/v1/jobs/${jobId}/${action}`, options);
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

  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-action]");
    if (!btn) return;
    if (btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) return;
    btn.disabled = true;
    const done = await act(btn.dataset.action, btn.dataset.job, btn.dataset.body);
    btn.disabled = false;
    if (done && done.error) { say(btn, done.error); return; }
    say(btn, "");
    const started = done && (done.job_id || (btn.dataset.action === "retry" && done.id));
    if (started) {
      document.dispatchEvent(new CustomEvent("job-retried", { detail: { ...done, id: started } }));
    }
    document.dispatchEvent(new Event("live-refresh"));
  });

  setInterval(() => refreshTimes(), 10000);
  document.addEventListener("DOMContentLoaded", () => refreshTimes());
  return { fmt, ago, span, text, refreshTimes, applyProgress, connect, act, banner };
})();
