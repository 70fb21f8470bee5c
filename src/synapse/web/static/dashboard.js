// The Dashboard: throughput and failures over time (uPlot, vendored in static/vendor/uplot),
// durations per job type and queue latency, from /api/v1/stats/*; refreshed every 15 s.
// The Audit page uses it only to show each UTC time in the browser's zone on hover.
"use strict";
(() => {
  const REFRESH_MS = 15000;
  const COLORS = { succeeded: "#15803d", failed: "#b91c1c", cancelled: "#b45309", p50: "#2563eb", p95: "#7c3aed" };
  const $ = (id) => document.getElementById(id);
  const fmt = (n) => Number(n).toLocaleString("en-US");

  document.querySelectorAll("time[data-utc]").forEach((t) => {
    t.title = `${new Date(t.dataset.utc).toLocaleString()} (your zone)`;
  });
  const root = $("dashboard");
  if (!root || typeof uPlot === "undefined") return;

  let win = root.dataset.window || "24h";
  let timer = null;
  let busy = false;
  const charts = {};

  function seconds(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (v < 1) return `${Math.round(v * 1000)} ms`;
    if (v < 60) return `${v.toFixed(v < 10 ? 2 : 1)} s`;
    if (v < 3600) return `${Math.floor(v / 60)} min ${Math.round(v % 60)} s`;
    return `${Math.floor(v / 3600)} h ${Math.round((v % 3600) / 60)} min`;
  }

  async function get(path) {
    let r;
    try {
      r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (e) {
      throw new Error("The server could not be reached; the dashboard keeps trying.");
    }
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (r.status === 401) throw new Error("Your session has ended: log in again.");
    if (!r.ok) throw new Error((body && typeof body.detail === "string" && body.detail) || `The server answered ${r.status}.`);
    return body;
  }

  function width(node) { return Math.max(260, Math.floor(node.getBoundingClientRect().width || node.clientWidth || 600)); }

  // One uPlot per container; data changes go through setData, a new shape rebuilds it.
  function draw(name, node, opts, data) {
    const chart = charts[name];
    if (chart && chart.series.length === opts.series.length && chart.__shape === opts.__shape) {
      chart.setData(data);
      return;
    }
    if (chart) chart.destroy();
    node.textContent = "";
    const made = new uPlot({ width: width(node), ...opts }, data, node);
    made.__shape = opts.__shape;
    charts[name] = made;
  }

  function throughput(body) {
    const xs = body.buckets.map((b) => Date.parse(b.start) / 1000);
    const series = ["succeeded", "failed", "cancelled"];
    const data = [xs, ...series.map((k) => body.buckets.map((b) => b[k]))];
    const style = {
      succeeded: { fill: "rgba(21,128,61,.12)", width: 1.5 },
      failed: { fill: "rgba(185,28,28,.10)", width: 2 },
      cancelled: { width: 1.5, dash: [5, 4] },
    };
    draw("throughput", $("chart-throughput"), {
      __shape: `tp-${body.window}-${body.bucket_seconds}`,
      height: 240,
      legend: { live: true },
      cursor: { points: { show: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, max)] } },
      axes: [{}, { label: "jobs", size: 50 }],
      series: [
        {},
        ...series.map((k) => ({ label: k, stroke: COLORS[k], points: { show: false }, ...style[k] })),
      ],
    }, data);
    const t = body.totals;
    const done = t.succeeded + t.failed + t.cancelled;
    $("t-succeeded").textContent = fmt(t.succeeded);
    $("t-failed").textContent = fmt(t.failed);
    $("t-cancelled").textContent = fmt(t.cancelled);
    $("t-rate").textContent = done ? `${((100 * t.failed) / done).toFixed(1)} %` : "–";
    $("tp-bucket").textContent = `${body.bucket} interval`;
    $("tp-range").textContent = `· last ${body.window}`;
    $("chart-throughput").setAttribute("aria-label",
      `Jobs finished per ${body.bucket} over the last ${body.window}: ${fmt(t.succeeded)} succeeded, ${fmt(t.failed)} failed, ${fmt(t.cancelled)} cancelled`);
  }

  function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }

  function rows(table, items, columns, empty) {
    const body = table.tBodies[0];
    body.textContent = "";
    if (!items.length) {
      const tr = document.createElement("tr");
      const td = cell(empty, "muted");
      td.colSpan = columns.length;
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const item of items) {
      const tr = document.createElement("tr");
      for (const [key, kind] of columns) {
        const v = item[key];
        tr.append(kind === "s" ? cell(seconds(v), "r num") : kind === "n" ? cell(fmt(v), "r num") : cell(String(v)));
      }
      body.append(tr);
    }
  }

  function durations(body) {
    rows($("durations"), body.items, [["type"], ["count", "n"], ["failed", "n"], ["p50", "s"], ["p95", "s"], ["p99", "s"]],
      `No job finished in the last ${body.window}.`);
    const queues = body.queues || [];
    rows($("latency"), queues, [["queue"], ["count", "n"], ["p50", "s"], ["p95", "s"]],
      `No job started in the last ${body.window}.`);
    const node = $("chart-latency");
    if (!queues.length) {
      if (charts.latency) { charts.latency.destroy(); delete charts.latency; }
      node.textContent = "";
      return;
    }
    const xs = queues.map((_, i) => i);
    const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.35, 60], align: 0 }) : undefined;
    draw("latency", node, {
      __shape: `lat-${queues.map((q) => q.queue).join(",")}`,
      height: 170,
      legend: { show: true },
      cursor: { points: { show: false } },
      scales: { x: { time: false, range: [-0.5, queues.length - 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [
        { values: (u, splits) => splits.map((v) => (Number.isInteger(v) && queues[v] ? queues[v].queue : "")), splits: () => xs },
        { label: "seconds", size: 50 },
      ],
      series: [
        {},
        { label: "p50", stroke: COLORS.p50, fill: "rgba(37,99,235,.35)", paths: bars, points: { show: false } },
        { label: "p95", stroke: COLORS.p95, fill: "rgba(124,58,237,.25)", paths: bars, points: { show: false } },
      ],
    }, [xs, queues.map((q) => q.p50), queues.map((q) => q.p95)]);
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const [tp, du] = await Promise.all([
        get(`/api/v1/stats/throughput?window=${encodeURIComponent(win)}`),
        get(`/api/v1/stats/durations?window=${encodeURIComponent(win)}`),
      ]);
      throughput(tp);
      durations(du);
      $("dash-error").hidden = true;
      const now = new Date();
      $("updated").textContent = now.toLocaleTimeString();
      $("updated").dateTime = now.toISOString();
      root.dataset.loaded = win;
    } catch (e) {
      $("dash-error").textContent = e.message;
      $("dash-error").hidden = false;
    } finally {
      busy = false;
    }
  }

  function choose(next) {
    win = next;
    document.querySelectorAll(".windows [data-window]").forEach((a) => {
      const on = a.dataset.window === win;
      a.classList.toggle("on", on);
      if (on) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
    });
    history.replaceState(null, "", `/dashboard?window=${encodeURIComponent(win)}`);
    refresh();
  }

  document.querySelectorAll(".windows [data-window]").forEach((a) => {
    a.addEventListener("click", (e) => { e.preventDefault(); choose(a.dataset.window); });
  });
  const offset = -new Date().getTimezoneOffset();
  $("tz").textContent = `UTC${offset >= 0 ? "+" : "−"}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0")}:${String(Math.abs(offset) % 60).padStart(2, "0")}`;

  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const [name, chart] of Object.entries(charts)) {
        const node = name === "throughput" ? $("chart-throughput") : $("chart-latency");
        chart.setSize({ width: width(node), height: chart.height });
      }
    }, 150);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  refresh();
  timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  window.addEventListener("pagehide", () => clearInterval(timer));
})();
