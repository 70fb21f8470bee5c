// An asset's page: its history newest first (when, action, each change as old → new, job, who).
"use strict";
(() => {
  const { el, clear, api, jobLink } = Pages;
  const $ = (id) => document.getElementById(id);
  const holder = $("history");
  const project = holder.dataset.project;
  const tag = holder.dataset.tag;
  const body = $("history-rows").tBodies[0];
  const PAGE = 50;

  async function load(offset) {
    try {
      const page = await api(`/api/v1/projects/${encodeURIComponent(project)}/assets/${encodeURIComponent(tag)}/history`, { query: { limit: PAGE, offset } });
      $("history-error").hidden = true;
      $("history-count").textContent = `(${Live.fmt(page.total)})`;
      clear(body, ...(page.items.length
        ? page.items.map((h) => el("tr", { class: `act-${h.action}` },
          el("td", { class: "nowrap" }, Pages.when(h.at, false), el("br"), el("span", { class: "muted small" }, Pages.when(h.at))),
          el("td", {}, el("span", { class: `act ${h.action}`, text: h.action })),
          el("td", {}, Pages.changeList(h.changes, h.action)),
          el("td", {}, h.job_id ? jobLink(h.job_id) : "", h.job_type ? el("div", { class: "muted small", text: h.job_type }) : null),
          el("td", { class: "small", text: h.by || "" })))
        : [el("tr", {}, el("td", { colspan: 5, class: "empty", text: "No recorded changes." }))]));
      Pages.pager($("history-pager"), { offset, limit: PAGE, total: page.total, shown: page.items.length, onPage: load });
    } catch (e) {
      $("history-error").textContent = e.message;
      $("history-error").hidden = false;
      clear(body);
    }
  }
  load(0);
})();
