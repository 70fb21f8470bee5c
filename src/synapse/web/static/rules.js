// The Rules page: the editor checks the condition as one types (POST .../rules/check, debounced)
// and marks a refusal where it is — the line, a caret under the column, the problem beside it;
// save (POST or PUT), enable/disable, delete (asked inline), and Run followed live.
"use strict";
(() => {
  const { el, clear, api, jobLink } = Pages;
  const $ = (id) => document.getElementById(id);
  const root = $("rules");
  const project = root.dataset.project;
  const base = `/api/v1/projects/${encodeURIComponent(project)}`;
  const form = $("rule-form");
  const cond = $("condition");
  const check = $("cond-check");
  const body = $("rule-rows").tBodies[0];
  let timer = null, seq = 0, running = null;

  // -- the condition, checked as one types ---------------------------------------------------
  function mark(text, line, column, message) {
    const lines = text.split("\n");
    const at = Math.min(Math.max(line, 1), lines.length) - 1;
    const src = lines[at] || "";
    const col = Math.max(1, Math.min(column, src.length + 1));
    clear(check,
      el("div", { class: "where", role: "alert" },
        el("pre", { class: "src" }, el("code", {},
          src.slice(0, col - 1), el("span", { class: "at", text: src.slice(col - 1, col) || " " }), src.slice(col))),
        el("pre", { class: "caret" }, " ".repeat(col - 1), el("span", { class: "mark", "aria-hidden": "true", text: "^" }), " ",
          el("span", { class: "problem" },
            el("span", { class: "pos", text: lines.length > 1 ? `line ${line}, column ${col}: ` : `column ${col}: ` }),
            message))));
    check.dataset.state = "bad";
    check.dataset.line = String(line);
    check.dataset.column = String(col);
    cond.setAttribute("aria-invalid", "true");
  }

  async function checkNow() {
    const text = cond.value;
    const mine = ++seq;
    if (!text.trim()) { clear(check); check.dataset.state = ""; cond.removeAttribute("aria-invalid"); return; }
    let r = null, answer = null;
    try {
      r = await fetch(`${base}/rules/check`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ condition: text }),
      });
      answer = await r.json();
    } catch (e) { answer = null; }
    if (mine !== seq) return;  // a later keystroke's check is on its way
    if (r && r.ok) {
      const fields = (answer.fields || []).length ? ` · reads ${answer.fields.join(", ")}` : "";
      clear(check, el("p", { class: "ok", text: `✓ The condition is valid${fields}` }));
      check.dataset.state = "ok";
      cond.removeAttribute("aria-invalid");
    } else if (r && r.status === 422 && answer) {
      mark(text, answer.line || 1, answer.column || 1, answer.problem || answer.detail);
    } else {
      clear(check, el("p", { class: "muted", text: "Could not check the condition now; it is checked again when saved." }));
      check.dataset.state = "";
    }
  }
  cond.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(checkNow, 250); });

  // -- the form -----------------------------------------------------------------------------
  const actionType = () => form.querySelector("input[name=action_type]:checked").value;
  function showAction() {
    form.querySelector(".when-flag").hidden = actionType() !== "flag";
    form.querySelector(".when-set").hidden = actionType() !== "set";
  }
  form.querySelectorAll("input[name=action_type]").forEach((r) => r.addEventListener("change", showAction));

  function valueOf(text) {
    const t = text.trim();
    if (/^(true|false)$/i.test(t)) return t.toLowerCase() === "true";
    if (t !== "" && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
    return text;
  }

  function rule() {
    const f = form.elements;
    const action = actionType() === "flag"
      ? { type: "flag", severity: f.severity.value, message: f.message.value }
      : { type: "set", property: f.property.value, value: valueOf(f.value.value) };
    return {
      name: f.name.value,
      applies_to: f.applies_to.value.split(",").map((s) => s.trim()).filter(Boolean),
      condition: cond.value,
      action,
      enabled: f.enabled.checked,
    };
  }

  function fill(r) {
    const f = form.elements;
    f.id.value = r ? r.id : "";
    f.name.value = r ? r.name : "";
    f.applies_to.value = r ? r.applies_to.join(", ") : "";
    cond.value = r ? r.condition : "";
    const a = r ? r.action : { type: "flag", severity: "warning", message: "" };
    form.querySelector(`input[name=action_type][value=${a.type}]`).checked = true;
    f.severity.value = a.severity || "warning";
    f.message.value = a.message || "";
    f.property.value = a.property || "";
    f.value.value = a.type === "set" ? (typeof a.value === "string" ? a.value : JSON.stringify(a.value)) : "";
    f.enabled.checked = r ? r.enabled : true;
    $("editor-title").textContent = r ? `Edit rule: ${r.name}` : "New rule";
    $("save-rule").textContent = r ? "Save changes" : "Save rule";
    $("form-error").hidden = true;
    showAction();
    clear(check);
    if (r) checkNow();
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = form.elements.id.value;
    const err = $("form-error");
    err.hidden = true;
    $("save-rule").disabled = true;
    try {
      const saved = await api(id ? `${base}/rules/${id}` : `${base}/rules`, { method: id ? "PUT" : "POST", json: rule() });
      await reload();
      fill(null);
      const row = $(`rule-${saved.id}`);
      if (row) { row.classList.add("just-saved"); row.scrollIntoView({ block: "nearest" }); }
    } catch (ex) {
      err.textContent = `Not saved: ${ex.message}`;
      err.hidden = false;
      if (ex.status === 422) checkNow();
    } finally {
      $("save-rule").disabled = false;
    }
  });
  $("new-rule").addEventListener("click", () => fill(null));

  // -- the table: edit, enable/disable, delete ------------------------------------------------
  async function reload() {
    const r = await Live.get(`/ui/rules/rows?project=${encodeURIComponent(project)}`);
    if (!r || !r.ok) throw new Pages.ApiError("The rules could not be reloaded; refresh the page.", r ? r.status : 0);
    body.innerHTML = await r.text();
  }

  function say(text) {
    $("rules-error").textContent = text || "";
    $("rules-error").hidden = !text;
  }

  body.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-do]");
    if (!btn) return;
    const tr = btn.closest("tr");
    const r = JSON.parse(tr.dataset.rule);
    say("");
    if (btn.dataset.do === "edit") { fill(r); form.scrollIntoView({ block: "start" }); form.elements.name.focus(); return; }
    if (btn.dataset.do === "toggle") {
      btn.disabled = true;
      try { await api(`${base}/rules/${r.id}`, { method: "PUT", json: { enabled: !r.enabled } }); await reload(); }
      catch (ex) { say(`Not changed: ${ex.message}`); btn.disabled = false; }
      return;
    }
    if (btn.dataset.do === "delete") {
      const old = tr.nextElementSibling;
      if (old && old.classList.contains("confirm")) old.remove();
      const box = el("div", { class: "ask" });
      tr.after(el("tr", { class: "confirm" }, el("td", { colspan: 7 }, box)));
      const n = r.findings_total || 0;
      const yes = await Pages.ask(box, `Delete the rule “${r.name}”${n ? ` and its ${Live.fmt(n)} finding${n === 1 ? "" : "s"}` : ""}? Properties it set stay.`,
        "Delete rule", "Keep it");
      box.closest("tr").remove();
      if (!yes) return;
      try {
        await api(`${base}/rules/${r.id}`, { method: "DELETE" });
        if (form.elements.id.value === String(r.id)) fill(null);
        await reload();
      } catch (ex) { say(`Not deleted: ${ex.message}`); }
    }
  });

  // -- Run, followed live -------------------------------------------------------------------
  function findingsLinks(counts) {
    const q = (extra) => `/findings?project=${encodeURIComponent(project)}${extra}`;
    const parts = ["error", "warning", "info"].filter((s) => counts[s]).map((s) =>
      el("a", { href: q(`&severity=${s}`), class: `sev ${s}`, text: `${Live.fmt(counts[s])} ${s}` }));
    const list = [];
    parts.forEach((p, i) => { if (i) list.push(", "); list.push(p); });
    return el("p", { class: "findings-links" }, "Findings: ", ...(list.length ? list : ["none"]), " · ",
      el("a", { href: q(""), text: "all findings" }));
  }

  $("run-rules").addEventListener("click", async () => {
    const button = $("run-rules");
    say("");
    button.disabled = true;
    let accepted;
    try { accepted = await api(`${base}/rules/run`, { method: "POST", json: {} }); }
    catch (ex) { say(`Run refused: ${ex.message}`); button.disabled = false; return; }
    const box = Pages.progressBox("assets");
    $("run-card").hidden = false;
    clear($("run-progress"), box);
    clear($("run-result"));
    if (running) running.stop();
    running = Pages.follow(accepted.job_id, box, async (job) => {
      running = null;
      button.disabled = false;
      const r = job.result || {};
      if (job.state === "SUCCESS") {
        clear($("run-result"), el("p", { class: "outcome ok", text: job.message || "Rules applied." }),
          findingsLinks(r.findings || {}), el("p", { class: "small" }, "Run job ", jobLink(job.id)));
      } else {
        clear($("run-result"), el("p", { class: "error outcome", text: job.error || job.message || "The run did not finish." }),
          el("p", { class: "small" }, "Run job ", jobLink(job.id)));
      }
      try { await reload(); } catch (ex) { say(ex.message); }
    });
  });

  showAction();
})();
