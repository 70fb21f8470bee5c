// The Import page: a guided import in five steps on one page.
// 1 project and file (sent once, with its own progress) → inspect; 2 sheet and header row (each
// change inspects again by upload_id); 3 the column mapping (auto / remembered / by hand, the
// problem inline); 4 a preview job followed live, then its counts, changes and invalid rows;
// 5 the commit followed live, then its summary. Every error stays beside its step.
"use strict";
(() => {
  const { el, clear, api, send, mb, jobLink } = Pages;
  const root = document.getElementById("import");
  const mayCreate = root.dataset.mayCreate === "true";
  const maxMb = Number(root.dataset.maxMb || 50);
  const form = document.getElementById("file-form");
  const projectInput = form.elements.project_id;
  const fileInput = form.elements.file;
  const $ = (id) => document.getElementById(id);
  const STEPS = ["file", "layout", "mapping", "preview", "commit"];
  const PAGE = 50;
  const ACTIONS = ["created", "updated", "unchanged", "skipped"];

  const S = {
    projects: new Set(JSON.parse($("project-list").textContent || "[]")),
    confirmed: new Set(),   // new project keys the user agreed to create
    project: "",
    info: null,             // the last inspect answer
    detected: {},           // sheet → the header row found without being told
    mapping: {},            // header → "tag" | "type" | "prop:<name>" | null
    initial: {},            // the mapping the inspect proposed
    serverProblem: null,
    previewJob: null,
    followers: {},          // step → the live follower of its job
    layoutSeq: 0,
    checkSeq: 0,
    checkTimer: null,
  };

  // ---- steps and their errors ---------------------------------------------------------------
  function step(name) { return $(`step-${name}`); }
  function showError(name, text) {
    const node = $(`${name}-error`);
    node.textContent = text || "";
    node.hidden = !text;
  }
  function stopFollowing(name) {
    if (S.followers[name]) { S.followers[name].stop(); delete S.followers[name]; }
  }
  function hideFrom(name) {
    for (const s of STEPS.slice(STEPS.indexOf(name))) {
      stopFollowing(s);
      step(s).hidden = true;
      showError(s, "");
    }
  }
  function reveal(name, scroll = true) {
    step(name).hidden = false;
    if (scroll) step(name).scrollIntoView({ block: "start" });
  }

  // ---- 1: project and file --------------------------------------------------------------------
  const sending = $("sending");
  function sendProgress(loaded, total) {
    const msg = sending.querySelector(".send-msg");
    const bar = sending.querySelector(".bar");
    const prog = sending.querySelector(".progress");
    if (loaded < 0) { msg.textContent = "Sent; reading the file…"; bar.style.width = "100%"; prog.setAttribute("aria-valuenow", 100); return; }
    const pct = total ? Math.round((loaded / total) * 100) : 0;
    bar.style.width = `${pct}%`;
    prog.setAttribute("aria-valuenow", pct);
    msg.textContent = `Sending ${mb(loaded)} of ${mb(total)} MB`;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    hideFrom("layout");
    showError("file", "");
    $("file-info").hidden = true;
    const key = projectInput.value.trim();
    projectInput.value = key;
    if (!key) { showError("file", "Choose a project."); projectInput.focus(); return; }
    const file = fileInput.files[0];
    if (!file) { showError("file", "Choose a .csv, .xlsx or .xlsm file."); return; }
    if (!/\.(csv|txt|tsv|xlsx|xlsm)$/i.test(file.name)) {
      showError("file", `${file.name} is not a .csv, .xlsx or .xlsm file.`);
      return;
    }
    if (file.size > maxMb * 1024 * 1024) {
      showError("file", `${file.name} is ${mb(file.size)} MB; the limit is ${maxMb} MB.`);
      return;
    }
    if (!(await projectAgreed(key, S.projects.has(key)))) return;
    S.project = key;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    sending.hidden = false;
    sendProgress(0, file.size);
    try {
      const info = await inspect({ file }, "file");
      if (!info) return;
      if (!info.project_exists && !(await projectAgreed(key, false))) return;
      S.detected = {};
      shown(info, true);
    } finally {
      button.disabled = false;
      sending.hidden = true;
    }
  });

  // A key that names no project: admins are asked before it is created; members are told.
  async function projectAgreed(key, exists) {
    if (exists || S.confirmed.has(key)) return true;
    if (!mayCreate) {
      showError("file", `Project ${key} does not exist. Only an admin can create a project; choose one of yours.`);
      return false;
    }
    const yes = await Pages.ask($("create-ask"), `Project ${key} does not exist yet. Create it?`, "Create it", "Cancel");
    if (yes) S.confirmed.add(key);
    return yes;
  }

  // POST inspect: the file the first time, its upload_id after; null when it failed (shown in `where`).
  async function inspect({ file = null, sheet = null, headerRow = null, mapping = null }, where) {
    const data = new FormData();
    data.set("project_id", S.project);
    if (file) data.set("file", file);
    else { data.set("upload_id", S.info.upload_id); data.set("filename", S.info.filename); }
    if (sheet) data.set("sheet", sheet);
    if (headerRow) data.set("header_row", headerRow);
    if (mapping) data.set("mapping", JSON.stringify(mapping));
    const seq = mapping ? ++S.checkSeq : ++S.layoutSeq;
    if (!mapping) S.checkSeq++;  // a new layout makes any mapping check in flight stale
    try {
      const info = file
        ? await send("/api/v1/ingestion/inspect", data, sendProgress)
        : await api("/api/v1/ingestion/inspect", { method: "POST", form: data });
      if (seq !== (mapping ? S.checkSeq : S.layoutSeq)) return null;
      showError(where, "");
      return info;
    } catch (e) {
      if (seq === (mapping ? S.checkSeq : S.layoutSeq)) showError(where, e.message);
      return null;
    }
  }

  // A new inspect answer: steps 2 and 3 drawn afresh, whatever came after them hidden.
  function shown(info, fresh) {
    S.info = info;
    const sheetKey = info.sheet || "";
    if (!(sheetKey in S.detected)) S.detected[sheetKey] = info.header_row;
    const what = info.kind === "xlsx"
      ? `workbook, ${info.sheets.length} sheet${info.sheets.length === 1 ? "" : "s"}`
      : "CSV";
    clear($("file-info"), el("b", { text: info.filename }), ` · ${Pages.size(info.size)} · ${what}`);
    $("file-info").hidden = false;
    hideFrom("preview");
    layout(info);
    mappingStep(info);
    reveal("layout", fresh);
    reveal("mapping", false);
  }

  // ---- 2: sheet and header row ----------------------------------------------------------------
  const sheetSelect = $("sheet");
  const headerInput = $("header-row");

  // The first rows of the sheet as read: the title block above the header greyed, the header
  // row marked, then the sample. A row number is a button: "use this row as the header".
  function layout(info) {
    const many = info.kind === "xlsx" && info.sheets.length > 1;
    $("sheet-label").hidden = !many;
    clear(sheetSelect, ...info.sheets.map((name) => el("option", { value: name, selected: name === info.sheet }, name)));
    headerInput.value = info.header_row || "";
    const detected = S.detected[info.sheet || ""];
    const hint = [];
    if (info.kind === "xlsx" && !many && info.sheet) hint.push(`Sheet “${info.sheet}”.`);
    if (!info.header_row) hint.push("No header row found: give its number.");
    else if (!detected || detected === info.header_row) hint.push(`Header found on row ${info.header_row}.`);
    else hint.push(`Header found on row ${detected}; row ${info.header_row} is used, as you chose.`);
    $("header-hint").textContent = hint.join(" ");

    const head = Array.isArray(info.rows) ? info.rows : [];
    const lines = [];
    if (!info.header_row) {
      head.forEach(([n, cells]) => lines.push([n, cells, "row"]));
    } else {
      head.filter(([n]) => n < info.header_row).forEach(([n, cells]) => lines.push([n, cells, "above"]));
      lines.push([info.header_row, info.header, "header"]);
      const after = head.filter(([n]) => n > info.header_row);
      info.sample.forEach((cells, i) => lines.push([after[i] ? after[i][0] : null, cells, "data"]));
    }
    const width = Math.max(1, ...lines.map(([, cells]) => cells.length));
    const cols = [...Array(width).keys()];
    const cell = (v) => (v === null || v === undefined ? "" : String(v));
    const number = (n, role) => (n && role !== "header"
      ? el("button", { type: "button", class: "rowpick", title: `Use row ${n} as the header row`, onclick: () => pickRow(n) }, String(n))
      : el("span", { text: n ? String(n) : "" }));
    clear($("sample"), el("tbody", {}, lines.map(([n, cells, role]) => el("tr", { class: `r-${role}`, dataset: { row: n || "" } },
      el(role === "header" ? "th" : "td", { class: "rownum" }, number(n, role)),
      cols.map((i) => el(role === "header" ? "th" : "td", { text: cell(cells[i]) }))))));
    if (!lines.length) clear($("sample"), el("tbody", {}, el("tr", {}, el("td", { class: "muted", text: "The sheet shows no rows." }))));
  }

  function pickRow(n) {
    headerInput.value = n;
    relayout({ sheet: S.info.sheet, headerRow: n });
  }

  async function relayout(params) {
    hideFrom("preview");
    sheetSelect.disabled = headerInput.disabled = true;
    try {
      const info = await inspect(params, "layout");
      if (info) shown(info, false);
    } finally {
      sheetSelect.disabled = headerInput.disabled = false;
    }
  }
  sheetSelect.addEventListener("change", () => relayout({ sheet: sheetSelect.value }));
  headerInput.addEventListener("change", () => {
    const n = parseInt(headerInput.value, 10);
    if (!(n >= 1)) { showError("layout", "The header row is a row number: 1 or more."); return; }
    relayout({ sheet: S.info.sheet, headerRow: n });
  });

  // ---- 3: mapping -----------------------------------------------------------------------------
  // The mapping is keyed by the trimmed header; a column without a header maps to nothing.
  const KINDS = [["tag", "Tag"], ["type", "Type"], ["prop", "Property…"], ["", "Ignore"]];
  const keyOf = (header) => String(header ?? "").replace(/\ufeff/g, "").trim();
  const slug = (text) => String(text).toLowerCase().normalize("NFKD").replace(/[^\p{L}\p{N}]+/gu, "_").replace(/^_+|_+$/g, "") || "column";
  const kindOf = (target) => (!target ? "" : target.startsWith("prop:") ? "prop" : target);

  function origin(key) {
    const now = S.mapping[key] ?? null;
    const auto = (S.info.auto || {})[key] ?? null;
    if (S.info.remembered && now === (S.initial[key] ?? null)) return ["remembered", "remembered"];
    if (now !== null && now === auto) return ["auto", "auto"];
    if (now !== (S.initial[key] ?? null)) return ["hand", "changed"];
    return ["", ""];
  }

  function mappingStep(info) {
    S.mapping = {};
    for (const header of info.header) {
      const key = keyOf(header);
      if (key) S.mapping[key] = key in info.mapping ? info.mapping[key] : null;
    }
    S.initial = { ...S.mapping };
    S.serverProblem = info.problem || null;
    const body = $("mapping").tBodies[0];
    if (!info.header.length) {
      clear(body, el("tr", {}, el("td", { colspan: 4, class: "muted", text: "No header row yet: give its number in step 2." })));
    } else {
      clear(body, ...info.header.map((header, i) => mappingRow(header, i, info)));
    }
    remembered(info);
    showProblem();
  }

  function mappingRow(header, i, info) {
    const key = keyOf(header);
    const sample = info.sample.map((r) => r[i]).find((v) => v !== null && v !== undefined && String(v).trim() !== "");
    const sampleCell = el("td", { class: "sample muted", text: sample === undefined ? "" : String(sample), title: sample === undefined ? "" : String(sample) });
    if (!key) {
      return el("tr", { class: "unnamed" }, el("td", { class: "header" }, el("i", { class: "muted", text: `column ${i + 1}, no header` })),
        sampleCell, el("td", { class: "muted small", text: "not imported (its cells must be empty)" }), el("td"));
    }
    const target = S.mapping[key] ?? null;
    const label = header.trim() || `column ${i + 1}`;
    const select = el("select", { "aria-label": `Import ${label} as`, class: "kind" },
      KINDS.map(([v, text]) => el("option", { value: v, selected: kindOf(target) === v }, text)));
    const name = el("input", { type: "text", class: "prop-name", "aria-label": `Property name for ${label}`,
      value: kindOf(target) === "prop" ? target.slice(5) : slug(key), spellcheck: "false", hidden: kindOf(target) !== "prop" });
    const tag = el("span", { class: "origin" });
    const tr = el("tr", { dataset: { header: key } },
      el("td", { class: "header", text: header }), sampleCell,
      el("td", { class: "target" }, el("div", { class: "pick" }, select, name)),
      el("td", {}, tag));
    const update = () => {
      const kind = select.value;
      name.hidden = kind !== "prop";
      S.mapping[key] = kind === "prop" ? `prop:${name.value.trim()}` : kind || null;
      const [cls, text] = origin(key);
      tag.className = `origin ${cls}`;
      tag.textContent = text;
    };
    select.addEventListener("change", () => { if (select.value === "prop" && !name.value.trim()) name.value = slug(key); update(); changed(); });
    name.addEventListener("input", () => { update(); changed(); });
    update();
    return tr;
  }

  async function remembered(info) {
    const note = $("remembered");
    note.hidden = !info.remembered;
    if (!info.remembered) return;
    const say = (at, by) => {
      note.textContent = at ? `Using the mapping you used for this layout on ${Pages.date(at)}.` : "Using the mapping you used for this layout before.";
      note.title = at ? `${at}${by ? ` by ${by}` : ""}` : "";
    };
    say(info.remembered_at);
    if (info.remembered_at) return;
    try {
      const list = await api(`/api/v1/projects/${encodeURIComponent(S.project)}/mappings`);
      const same = (list.items || []).find((m) => JSON.stringify((m.header || []).map(keyOf)) === JSON.stringify(info.header.map(keyOf)));
      if (same && S.info === info) say(same.used_at, same.used_by);
    } catch (e) { /* the sentence without a date stays */ }
  }

  // What is wrong with the mapping as it stands: checked here at once, and by the server.
  function localProblem() {
    if (!S.info.header.length) return null;  // the server's problem says what is missing
    const keys = Object.keys(S.mapping);
    const is = (t) => keys.filter((k) => S.mapping[k] === t);
    const quote = (list) => list.map((k) => `“${k}”`).join(" and ");
    for (const [target, what] of [["tag", "tag"], ["type", "type"]]) {
      const cols = is(target);
      if (!cols.length) return `No column imports as the asset ${what}: choose the column that holds it.`;
      if (cols.length > 1) return `Only one column can be the ${what}; ${quote(cols)} both are.`;
    }
    const names = {};
    for (const k of keys) {
      const t = S.mapping[k];
      if (!t || !t.startsWith("prop:")) continue;
      const n = t.slice(5);
      if (!n) return `Name the property that column “${k}” imports as.`;
      if (["tag", "type"].includes(n.toLowerCase())) return `“${n}” cannot be a property name; choose ${n.toLowerCase()} for column “${k}” instead.`;
      if (n in names) return `Columns “${names[n]}” and “${k}” both import as the property ${n}.`;
      names[n] = k;
    }
    return null;
  }

  function showProblem() {
    const problem = S.serverProblem || localProblem();  // the server names the columns it saw
    const node = $("problem");
    node.textContent = problem || "";
    node.hidden = !problem;
    $("preview-button").disabled = Boolean(problem);
    return problem;
  }

  function changed() {
    hideFrom("preview");
    showError("mapping", "");
    S.serverProblem = null;
    showProblem();
    clearTimeout(S.checkTimer);
    if (localProblem()) return;
    S.checkTimer = setTimeout(async () => {
      const info = await inspect({ sheet: S.info.sheet, headerRow: S.info.header_row, mapping: S.mapping }, "mapping");
      if (!info) return;
      S.serverProblem = info.problem || null;
      showProblem();
    }, 250);
  }

  // ---- 4: preview -----------------------------------------------------------------------------
  function submission(mode, skipInvalid = false) {
    const data = new FormData();
    data.set("upload_id", S.info.upload_id);
    data.set("filename", S.info.filename);  // the name the imports list shows
    data.set("project_id", S.project);
    data.set("mode", mode);
    if (S.info.sheet) data.set("sheet", S.info.sheet);
    data.set("header_row", S.info.header_row);
    data.set("mapping", JSON.stringify(S.mapping));
    if (skipInvalid) data.set("skip_invalid", "true");
    return data;
  }

  $("preview-button").addEventListener("click", async () => {
    if (showProblem()) return;
    clearTimeout(S.checkTimer);
    const button = $("preview-button");
    button.disabled = true;
    showError("mapping", "");
    hideFrom("preview");
    try {
      // The preview skips invalid rows, so that it can show them all next to what the valid
      // rows would do; its commit then imports the valid rows ("Import anyway").
      const accepted = await api("/api/v1/ingestion/upload-csv", { method: "POST", form: submission("preview", true) });
      followPreview(accepted.job_id);
    } catch (e) {
      showError("mapping", e.message);
    } finally {
      button.disabled = Boolean(showProblem());
    }
  });

  function followPreview(jobId) {
    hideFrom("preview");
    S.previewJob = jobId;
    $("preview-result").hidden = true;
    $("preview-failed").hidden = true;
    const box = Pages.progressBox();
    clear($("preview-progress"), box);
    reveal("preview");
    S.followers.preview = Pages.follow(jobId, box, (job) => {
      delete S.followers.preview;
      if (job.state === "SUCCESS") previewDone(job);
      else failed(job, "preview");
    });
  }

  function counts(node, r, invalid) {
    const tile = (key, label, n) => el("div", { class: `tile ${key}`, dataset: { count: key } },
      el("span", { class: "n", text: Live.fmt(n || 0) }), el("span", { class: "label", text: label }));
    clear(node, tile("created", "created", r.created_count), tile("updated", "updated", r.updated_count),
      tile("unchanged", "unchanged", r.unchanged_count), tile("skipped", "skipped", r.skipped_count),
      invalid ? tile("invalid", "invalid rows", r.error_count) : null);
  }

  function previewDone(job) {
    const r = job.result || {};
    $("preview-result").hidden = false;
    $("preview-summary").textContent = r.summary || job.message || "";
    counts($("preview-counts"), r, true);
    loadChanges(job.id, "", 0);
    const invalid = Number(r.error_count || 0);
    $("invalid-block").hidden = !invalid;
    if (invalid) {
      $("invalid-count").textContent = `(${Live.fmt(invalid)})`;
      $("invalid-csv").href = `/api/v1/jobs/${encodeURIComponent(job.id)}/errors?format=csv`;
      loadErrors(job.id, 0, $("invalid-table"), $("invalid-pager"), "preview");
    }
    const actions = $("preview-actions");
    if (invalid) {
      clear(actions,
        el("button", { type: "button", class: "primary", id: "skip-invalid", onclick: () => commit() },
          `Import anyway, skipping ${Live.fmt(invalid)} invalid row${invalid === 1 ? "" : "s"}`),
        el("button", { type: "button", class: "button", onclick: startOver }, "Upload a corrected file"));
    } else {
      const nothing = !Number(r.created_count || 0) && !Number(r.updated_count || 0);
      clear(actions,
        el("button", { type: "button", class: "primary", id: "commit", onclick: () => commit() }, "Commit: import these changes"),
        el("button", { type: "button", class: "button", onclick: startOver }, "Start over"),
        nothing ? el("span", { class: "muted small", text: "Nothing would change." }) : null);
    }
  }

  async function loadChanges(jobId, action, offset) {
    const table = $("changes");
    try {
      const page = await api(`/api/v1/jobs/${encodeURIComponent(jobId)}/changes`, { query: { action, limit: PAGE, offset } });
      if (S.previewJob !== jobId) return;
      tabs(jobId, page.counts || {}, action);
      clear(table,
        el("thead", {}, el("tr", {}, ["Row", "Tag", "Action", "Changes"].map((h) => el("th", { text: h })))),
        el("tbody", {}, page.items.length ? page.items.map(changeRow)
          : el("tr", {}, el("td", { colspan: 4, class: "muted", text: action ? `No ${action} rows.` : "No rows." }))));
      Pages.pager($("changes-pager"), { offset, limit: PAGE, total: page.total, shown: page.items.length, onPage: (o) => loadChanges(jobId, action, o) });
    } catch (e) {
      clear(table, el("tbody", {}, el("tr", {}, el("td", { class: "error", text: e.message }))));
    }
  }

  function changeRow(c) {
    const what = c.action === "unchanged" ? el("span", { class: "muted", text: "no change" }) : Pages.changeList(c.changes, c.action);
    return el("tr", { class: `act-${c.action}` }, el("td", { class: "num", text: c.row ?? "" }), el("td", { class: "tag", text: c.tag }),
      el("td", {}, el("span", { class: `act ${c.action}`, text: c.action })), el("td", {}, what));
  }

  function tabs(jobId, n, current) {
    const total = ACTIONS.reduce((sum, a) => sum + Number(n[a] || 0), 0);
    const tab = (action, label, count) => el("button", {
      type: "button", role: "tab", class: `tab${action === current ? " on" : ""}`, "aria-selected": action === current ? "true" : "false",
      dataset: { filter: action }, disabled: !count && action !== current, onclick: () => loadChanges(jobId, action, 0),
    }, `${label} `, el("span", { class: "count", text: Live.fmt(count) }));
    clear($("change-tabs"), tab("", "All", total), ...ACTIONS.map((a) => tab(a, a[0].toUpperCase() + a.slice(1), Number(n[a] || 0))));
  }

  async function loadErrors(jobId, offset, holder, pagerNode, where) {
    try {
      const page = await api(`/api/v1/jobs/${encodeURIComponent(jobId)}/errors`, { query: { limit: PAGE, offset } });
      clear(holder, Pages.scroll(Pages.errorTable(page.items)));
      Pages.pager(pagerNode, { offset, limit: PAGE, total: page.total, shown: page.items.length, onPage: (o) => loadErrors(jobId, o, holder, pagerNode, where) });
    } catch (e) {
      showError(where, e.message);
    }
  }

  // A job that did not succeed: its error, the assets in conflict, its invalid rows, and the
  // ways on: import the valid rows, upload a corrected file, preview again.
  function failed(job, where) {
    const r = job.result || {};
    const holder = where === "preview" ? $("preview-failed") : $("commit-result");
    holder.hidden = false;
    const errCount = Number(r.error_count || 0) || (r.errors || []).length;
    const conflicts = r.conflicts || [];
    const parts = [el("p", { class: "error outcome", text: job.state === "CANCELLED" ? `Cancelled. ${job.message || ""}` : job.error || job.message || "The job failed." })];
    if (conflicts.length) {
      parts.push(el("p", { text: "These assets changed after the preview; preview again to see them as they are now:" }),
        el("ul", { class: "conflicts" }, conflicts.map((c) => el("li", {}, el("b", { class: "tag", text: c.tag }), ` — ${c.reason}`))));
    }
    const table = el("div");
    const pagerNode = el("div", { class: "pager" });
    if (errCount) parts.push(el("h3", {}, "Invalid rows ", el("span", { class: "count", text: `(${Live.fmt(errCount)})` })), table, pagerNode);
    const actions = el("div", { class: "actions" });
    if (errCount && job.state === "FAILURE") {
      actions.append(el("button", { type: "button", class: "primary", id: "import-valid", onclick: (e) => retryValid(job, where, e.currentTarget) }, "Import the valid rows"));
    }
    if (conflicts.length) actions.append(el("button", { type: "button", class: "primary", onclick: () => $("preview-button").click() }, "Preview again"));
    actions.append(el("button", { type: "button", class: "button", id: "corrected", onclick: startOver }, "Upload a corrected file"));
    parts.push(actions, el("p", { class: "small" }, "Job ", jobLink(job.id || job.job_id)));
    clear(holder, ...parts);
    if (errCount) loadErrors(job.id, 0, table, pagerNode, where);
  }

  async function retryValid(job, where, button) {
    button.disabled = true;
    showError(where, "");
    try {
      const again = await api(`/api/v1/jobs/${encodeURIComponent(job.id)}/retry`, { method: "POST", json: { skip_invalid: true } });
      const id = again.job_id || again.id;
      if (where === "preview") followPreview(id);
      else followCommit(id);
    } catch (e) {
      showError(where, e.message);
      button.disabled = false;
    }
  }

  // ---- 5: commit ------------------------------------------------------------------------------
  async function commit() {
    const buttons = [...$("preview-actions").querySelectorAll("button")];
    buttons.forEach((b) => { b.disabled = true; });
    showError("preview", "");
    try {
      const accepted = await api(`/api/v1/jobs/${encodeURIComponent(S.previewJob)}/commit`, { method: "POST" });
      followCommit(accepted.job_id || accepted.id);
    } catch (e) {
      showError("preview", e.message);
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function followCommit(jobId) {
    hideFrom("commit");
    clear($("commit-result"));
    const box = Pages.progressBox();
    clear($("commit-progress"), box);
    reveal("commit");
    S.followers.commit = Pages.follow(jobId, box, (job) => {
      delete S.followers.commit;
      if (job.state === "SUCCESS") committed(job);
      else failed(job, "commit");
    });
  }

  function committed(job) {
    const r = job.result || {};
    const p = encodeURIComponent(job.project_id || S.project);
    const tiles = el("div", { class: "tiles" });
    counts(tiles, r, Number(r.error_count || 0) > 0);
    clear($("commit-result"),
      el("p", { class: "outcome ok", text: r.summary || job.message || `Imported into ${job.project_id || S.project}.` }),
      tiles,
      el("p", { class: "links" }, el("a", { class: "button", href: `/jobs/${encodeURIComponent(job.id)}` }, "The job"),
        el("a", { class: "button", href: `/imports?project=${p}` }, "Imports of this project"),
        el("a", { class: "button", href: `/assets?project=${p}` }, "Assets of this project"),
        el("button", { type: "button", class: "button", onclick: startOver }, "Import another file")));
    $("preview-actions").querySelectorAll("button").forEach((b) => { b.disabled = true; });
  }

  // Back to step 1 with the project kept and the file cleared.
  function startOver() {
    hideFrom("layout");
    S.info = null;
    S.previewJob = null;
    fileInput.value = "";
    $("file-info").hidden = true;
    step("file").scrollIntoView({ block: "start" });
    fileInput.focus();
  }
})();
