// The Packages page: the form becomes POST .../packages; the job is followed live; its files are
// listed to download when it is done, and the earlier packages' table is reloaded.
"use strict";
(() => {
  const { el, clear, api, jobLink } = Pages;
  const $ = (id) => document.getElementById(id);
  const project = $("packages").dataset.project;
  const form = $("package-form");
  let following = null;

  function request() {
    const f = new FormData(form);
    const options = {
      formats: f.getAll("formats"),
      asset_types: f.getAll("asset_types"),
      revision: String(f.get("revision") || "").trim() || "A",
    };
    const title = String(f.get("title") || "").trim();
    if (title) options.title = title;
    return { package_type: f.get("package_type"), options };
  }

  async function reload() {
    const r = await Live.get(`/ui/packages/earlier?project=${encodeURIComponent(project)}`);
    if (r && r.ok) { $("package-rows").tBodies[0].innerHTML = await r.text(); Live.refreshTimes($("package-rows")); }
  }

  function files(list) {
    if (!list.length) return el("p", { class: "muted", text: "The job made no files." });
    return el("ul", { class: "files" }, list.map((f) => el("li", {},
      el("a", { class: "file", href: `/api/v1/files/${encodeURIComponent(f.id)}`, download: true, text: f.name }),
      " ", el("span", { class: "small muted", text: Pages.size(f.size) }))));
  }

  // "Changes since revision A: 3" (the job result's changes_since), or nothing for a first one.
  function changes(since) {
    if (!since) return el("p", { class: "small muted changes", text: "No earlier revision to compare with." });
    return el("p", { class: "changes", text: `Changes since revision ${since.revision}: ${since.count}` });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = $("package-error");
    err.hidden = true;
    const body = request();
    if (!body.options.formats.length) { err.textContent = "Tick at least one file: Excel workbook or PDF."; err.hidden = false; return; }
    $("generate").disabled = true;
    let accepted;
    try { accepted = await api(`/api/v1/projects/${encodeURIComponent(project)}/packages`, { method: "POST", json: body }); }
    catch (ex) { err.textContent = `Not queued: ${ex.message}`; err.hidden = false; $("generate").disabled = false; return; }
    const box = Pages.progressBox(body.package_type === "instrument_index" ? "rows" : "pages");
    $("package-run").hidden = false;
    clear($("package-progress"), box);
    clear($("package-result"));
    if (following) following.stop();
    reload();
    following = Pages.follow(accepted.job_id, box, (job) => {
      following = null;
      $("generate").disabled = false;
      const r = job.result || {};
      if (job.state === "SUCCESS") {
        clear($("package-result"), el("p", { class: "outcome ok", text: `Revision ${body.options.revision} is ready.` }),
          changes(r.changes_since), files(r.files || []), el("p", { class: "small" }, "Package job ", jobLink(job.id)));
      } else {
        clear($("package-result"), el("p", { class: "error outcome", text: job.error || job.message || "The package was not made." }),
          el("p", { class: "small" }, "Package job ", jobLink(job.id)));
      }
      reload();
    });
  });
})();
