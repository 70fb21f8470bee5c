// The Findings page is server-rendered; this applies a chosen severity, rule or type at once,
// leaves empty filters out of the address (the form works without it) and keeps times fresh.
"use strict";
(() => {
  const form = document.getElementById("finding-filters");
  if (!form) return;
  const fields = () => form.querySelectorAll("select, input[type=search], input[type=hidden]");
  form.addEventListener("submit", () => fields().forEach((f) => { if (!f.value) f.disabled = true; }));
  window.addEventListener("pageshow", () => fields().forEach((f) => { f.disabled = false; }));
  form.querySelectorAll("select").forEach((s) => s.addEventListener("change", () => form.requestSubmit()));
  Live.refreshTimes(document.getElementById("finding-rows"));
})();
