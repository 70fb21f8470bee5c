// The Imports page: a project's imports newest first, paged, with Undo (asked inline, then the
// undo job followed live and its result shown: deleted, restored, conflicts).
"use strict";
(() => {
  const { el, clear, api, jobLink } = Pages;
  const $ = (id) => document.getElementById(id);
  const root = $("imports");
  const project = root.dataset.project;
  const body = $("import-rows").tBodies[0];
  const PAGE = 25;
  let offset = Number(new URLSearchParams(location.search).get("offset") || 0);
  let undoing = null;

  const plural = (n, one, many = `${one}s`) => `${Live.fmt(n)} ${n === 1 ? one : many}`;

  async function load(at) {
    try {
      const page = await api(`/api/v1/projects/${encodeURIComponent(project)}/imports`, { query: { limit: PAGE, offset: at } });
      offset = at;
      $("imports-error").hidden = true;
      const committedBy = {}, names = {};
      for (const i of page.items) {
        if (i.commit_of) committedBy[i.commit_of] = i.job_id;
        names[i.job_id] = i.filename;
      }
      clear(body, ...(page.items.length ? page.items.map((i) => row(i, committedBy, names))
        : [el("tr", {}, el("td", { colspan: 8, class: "empty" }, "No imports in this project yet. ",
          el("a", { href: `/import?project=${encodeURIComponent(project)}` }, "Import a file")))]));
      Pages.pager($("imports-pager"), { offset: at, limit: PAGE, total: page.total, shown: page.items.length, onPage: load });
      const url = new URL(location.href);
      if (at) url.searchParams.set("offset", at); else url.searchParams.delete("offset");
      history.replaceState(null, "", url);
      Live.refreshTimes(body);
    } catch (e) {
      $("imports-error").textContent = e.message;
      $("imports-error").hidden = false;
      clear(body);
    }
  }

  function changes(item) {
    const counts = item.undo_of
      ? [["deleted", item.deleted_count], ["restored", item.restored_count], ["conflicts", item.conflict_count]]
      : [["created", item.created_count], ["updated", item.updated_count], ["unchanged", item.unchanged_count], ["skipped", item.skipped_count]];
    const parts = counts.filter(([, n]) => Number(n) > 0).map(([what, n]) => el("span", { class: `c ${what}`, text: `${Live.fmt(n)} ${what}` }));
    if (!parts.length) return el("span", { class: "muted small", text: item.state === "SUCCESS" ? "no changes" : "" });
    return el("span", { class: "cs", title: item.summary || "" }, parts);
  }

  function marks(item, committedBy) {
    const out = [];
    if (item.undone_by) out.push(el("span", { class: "mark undone", title: item.why_not || "" }, "undone by ", jobLink(item.undone_by)));
    if (item.undo_of) out.push(el("span", { class: "mark undo" }, "undo of ", jobLink(item.undo_of)));
    if (item.commit_of) out.push(el("span", { class: "mark commit" }, "commit of ", jobLink(item.commit_of)));
    if (committedBy[item.job_id]) out.push(el("span", { class: "mark committed" }, "committed by ", jobLink(committedBy[item.job_id])));
    if (item.can_undo) {
      out.push(el("button", { type: "button", class: "button undo-button", onclick: (e) => askUndo(item, e.currentTarget) }, "Undo"));
    } else if (item.why_not && !item.undone_by && !item.undo_of) {
      out.push(el("details", { class: "why-not small", title: item.why_not }, el("summary", { text: "no undo" }), el("p", { text: item.why_not })));
    }
    return out;
  }

  function row(item, committedBy, names) {
    const mode = item.undo_of ? "undo" : item.mode || "";
    const file = item.filename || (item.undo_of && names[item.undo_of]) || "";
    return el("tr", { id: `imp-${item.job_id}`, class: item.undone_by ? "is-undone" : "", dataset: { job: item.job_id } },
      el("td", { class: "nowrap" }, Pages.when(item.created_at)),
      el("td", { class: `file${item.filename ? "" : " muted"}`, text: file }),
      el("td", { text: mode }),
      el("td", { class: "small", text: item.submitted_by || "" }),
      el("td", {}, changes(item)),
      el("td", {}, Pages.badge(item.state)),
      el("td", {}, jobLink(item.job_id)),
      el("td", { class: "acts" }, marks(item, committedBy)));
  }

  async function askUndo(item, button) {
    const tr = button.closest("tr");
    const old = tr.nextElementSibling;
    if (old && old.classList.contains("confirm")) old.remove();
    const box = el("div", { class: "ask" });
    const err = el("p", { class: "error", role: "alert", hidden: true });
    tr.after(el("tr", { class: "confirm" }, el("td", { colspan: 8 }, box, err)));
    button.disabled = true;
    const created = Number(item.created_count || 0), updated = Number(item.updated_count || 0);
    const yes = await Pages.ask(box,
      `Undo this import? ${plural(created, "created asset")} will be deleted and ${plural(updated, "updated asset")} restored.`,
      "Undo import", "Keep it");
    if (!yes) { box.closest("tr").remove(); button.disabled = false; return; }
    try {
      const accepted = await api(`/api/v1/jobs/${encodeURIComponent(item.job_id)}/undo`, { method: "POST" });
      box.closest("tr").remove();
      follow(item, accepted.job_id || accepted.id);
    } catch (e) {
      err.textContent = `Undo refused: ${e.message}`;
      err.hidden = false;
      button.disabled = false;
    }
  }

  function follow(item, jobId) {
    if (undoing) undoing.stop();
    const card = $("undo-card");
    card.hidden = false;
    clear($("undo-of"), `${item.filename || "import"} (`, jobLink(item.job_id), ")");
    const box = Pages.progressBox("assets");
    clear($("undo-progress"), box);
    clear($("undo-result"));
    card.scrollIntoView({ block: "start" });
    undoing = Pages.follow(jobId, box, (job) => {
      undoing = null;
      const r = job.result || {};
      const parts = [];
      if (job.state === "SUCCESS") {
        parts.push(el("p", { class: "outcome ok", text: r.summary || job.message || "Undone." }),
          el("div", { class: "tiles" },
            el("div", { class: "tile deleted", dataset: { count: "deleted" } }, el("span", { class: "n", text: Live.fmt(r.deleted_count || 0) }), el("span", { class: "label", text: "deleted" })),
            el("div", { class: "tile restored", dataset: { count: "restored" } }, el("span", { class: "n", text: Live.fmt(r.restored_count || 0) }), el("span", { class: "label", text: "restored" })),
            el("div", { class: "tile conflicts", dataset: { count: "conflicts" } }, el("span", { class: "n", text: Live.fmt((r.conflicts || []).length) }), el("span", { class: "label", text: "conflicts" }))));
      } else {
        parts.push(el("p", { class: "error outcome", text: job.error || job.message || "The undo did not finish." }));
      }
      const conflicts = r.conflicts || [];
      if (conflicts.length) {
        parts.push(el("p", { text: "Left as they are (changed after the import):" }),
          el("ul", { class: "conflicts" }, conflicts.map((c) => el("li", {}, el("b", { class: "tag", text: c.tag }), ` — ${c.reason}`))));
      }
      parts.push(el("p", { class: "small" }, "Undo job ", jobLink(job.id || jobId)));
      clear($("undo-result"), ...parts);
      load(offset);
    });
  }

  // Fresh states now and then, unless someone is in the middle of something on the page.
  setInterval(() => {
    if (!document.hidden && !undoing && !body.querySelector("tr.confirm, details[open]")) load(offset);
  }, 15000);
  load(offset);
})();
