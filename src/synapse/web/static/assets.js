// The Assets page: a project's assets by tag, searched by tag text, type and property, paged.
"use strict";
(() => {
  const { el, clear, api } = Pages;
  const $ = (id) => document.getElementById(id);
  const project = $("assets").dataset.project;
  const form = $("asset-search");
  const body = $("asset-rows").tBodies[0];
  const PAGE = 50;
  const SHOWN_PROPS = 4;
  const types = new Set();
  const url = new URLSearchParams(location.search);
  for (const k of ["q", "type", "prop"]) form.elements[k].value = url.get(k) || "";
  let offset = Number(url.get("offset") || 0);

  function filters() {
    const f = {};
    for (const k of ["q", "type", "prop"]) f[k] = form.elements[k].value.trim();
    return f;
  }

  function props(properties) {
    const entries = Object.entries(properties || {});
    if (!entries.length) return el("span", { class: "muted", text: "—" });
    const shown = entries.slice(0, SHOWN_PROPS).map(([k, v]) => el("span", { class: "prop" }, el("span", { class: "field", text: k }), " ", Pages.show(v)));
    if (entries.length > SHOWN_PROPS) shown.push(el("span", { class: "muted small", text: `+${entries.length - SHOWN_PROPS} more` }));
    return el("span", { class: "props" }, shown);
  }

  async function load(at) {
    const f = filters();
    try {
      const page = await api(`/api/v1/projects/${encodeURIComponent(project)}/assets`, { query: { ...f, limit: PAGE, offset: at } });
      offset = at;
      $("assets-error").hidden = true;
      const link = (tag) => `/assets/${encodeURIComponent(project)}/${encodeURIComponent(tag)}`;
      clear(body, ...(page.items.length
        ? page.items.map((a) => el("tr", { dataset: { tag: a.tag } },
          el("td", { class: "tag" }, el("a", { href: link(a.tag), text: a.tag })),
          el("td", { text: a.type }),
          el("td", {}, props(a.properties)),
          el("td", { class: "nowrap" }, Pages.when(a.updated_at))))
        : [el("tr", {}, el("td", { colspan: 4, class: "empty", text: f.q || f.type || f.prop ? "No assets match." : "No assets in this project yet." }))]));
      Pages.pager($("assets-pager"), { offset: at, limit: PAGE, total: page.total, shown: page.items.length, onPage: load });
      $("assets-pager").hidden = !page.total;
      for (const a of page.items) {
        if (a.type && !types.has(a.type)) { types.add(a.type); $("asset-types").append(el("option", { value: a.type })); }
      }
      const q = new URLSearchParams({ project });
      for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
      if (at) q.set("offset", at);
      history.replaceState(null, "", `${location.pathname}?${q}`);
    } catch (e) {
      $("assets-error").textContent = e.message;
      $("assets-error").hidden = false;
      clear(body);
      $("assets-pager").hidden = true;
    }
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); load(0); });
  load(offset);
})();
