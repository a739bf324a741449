// The plan library: every plan in its current version; one plan (its levels with conditions, tasks with owners
// and deadlines, notices, resources, and its versions); and checking a plan file before it goes into the library
// (POST /api/v1/plans/validate: the loader's own rules, each problem named by file, line and field).

import { el, errorText, getJSON, t, when } from "./common.js";
import { category, duration, gradeText, responseText, selectorText, warningText } from "./emergency.js";

const main = document.querySelector(".plans-page");
const message = document.getElementById("message");
const view = document.getElementById("plan");

function say(text, kind = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind}`;
}

function planLink(p, version) {
  const a = el("a", "", version ? `v${version}` : p.code);
  const params = new URLSearchParams({ code: p.code });
  if (version) params.set("version", version);
  a.href = `/plans?${params}`;
  a.addEventListener("click", (e) => {
    e.preventDefault();
    history.pushState(null, "", a.href);
    show(p.code, version).catch((err) => say(errorText(err), "error"));
  });
  return a;
}

async function list() {
  const plans = await getJSON("/api/v1/plans");
  document.getElementById("plan-rows").replaceChildren(...plans.map((p) => {
    const tr = el("tr");
    tr.dataset.plan = p.code;
    const code = el("td");
    code.append(planLink(p));
    tr.append(code, el("td", "", p.name), el("td", "", String(p.version)), el("td", "", category(p.category)),
      el("td", "", p.types.join("、")), el("td", "", p.levels.map(responseText).join("、")), el("td", "", when(p.loaded_at)));
    return tr;
  }));
  main.dataset.plans = String(plans.length);
}

function conditions(c) {
  const parts = [t("plans.cond.min_grade", { v: gradeText(c.min_grade) })];
  if (c.min_warning_level) parts.push(t("plans.cond.min_warning_level", { v: warningText(c.min_warning_level) }));
  if (c.min_towns) parts.push(t("plans.cond.min_towns", { v: c.min_towns }));
  if (c.areas && c.areas.length) parts.push(t("plans.cond.areas", { v: c.areas.join("、") }));
  return parts.join("；");
}

function levelBlock(lv) {
  const box = el("section", "plan-level");
  box.dataset.level = String(lv.level);
  box.append(el("h3", "", `${responseText(lv.level)} · ${lv.name}`),
    el("p", "muted", `${t("plans.conditions")}: ${conditions(lv.conditions)}`));
  const table = el("table", "cases-table");
  const head = el("tr");
  for (const key of ["plans.task", "inc.owner", "plans.deadline", "plans.ack"]) head.append(el("th", "", t(key)));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  for (const task of lv.tasks) {
    const tr = el("tr");
    const title = el("td", "", task.title);
    if (task.details) title.append(el("div", "muted small", task.details));
    tr.append(title, el("td", "", selectorText(task.owner)), el("td", "", duration(task.deadline_minutes)),
      el("td", "", t(task.ack_required === false ? "plans.no" : "plans.yes")));
    table.tBodies[0].append(tr);
  }
  if (lv.tasks.length) box.append(table);
  if (lv.notify && lv.notify.length) {
    box.append(el("h4", "", t("plans.notify")));
    const ul = el("ul");
    for (const n of lv.notify) ul.append(el("li", "", `${selectorText(n.to)}：${n.note}`));
    box.append(ul);
  }
  return box;
}

async function show(code, version) {
  if (!code) {
    view.hidden = true;
    return;
  }
  const p = await getJSON(`/api/v1/plans/${encodeURIComponent(code)}${version ? `?version=${encodeURIComponent(version)}` : ""}`);
  const doc = p.document;
  document.getElementById("plan-name").textContent = `${doc.name}（${p.code} v${p.version}）`;
  document.getElementById("plan-meta").textContent = [category(doc.category), doc.types.join("、"),
    `${t("plans.source")}: ${p.source}`, `${t("plans.loaded")}: ${when(p.loaded_at)}`].join(" · ");
  document.getElementById("plan-summary").textContent = [doc.summary, (doc.basis || []).length
    ? `${t("plans.basis")}: ${doc.basis.join("；")}` : ""].filter(Boolean).join(" ");
  const versions = document.getElementById("plan-versions");
  versions.replaceChildren(el("strong", "", `${t("plans.versions")}: `));
  for (const v of p.versions) {
    const link = planLink(p, v.version);
    if (String(v.version) === String(p.version)) link.setAttribute("aria-current", "true");
    versions.append(link, ` (${when(v.loaded_at)}) `);
  }
  document.getElementById("plan-levels").replaceChildren(
    ...doc.levels.slice().sort((a, b) => b.level - a.level).map(levelBlock));
  const resources = document.getElementById("plan-resources");
  resources.replaceChildren(...(doc.resources || []).map((r) =>
    el("li", "", `${r.name} × ${r.quantity} ${r.unit} · ${t("plans.holder")}: ${selectorText(r.holder)}`)));
  if (!resources.children.length) resources.append(el("li", "muted", t("none")));
  view.hidden = false;
  view.dataset.plan = p.code;
  view.dataset.version = String(p.version);
}

// --- validating a file ---------------------------------------------------------------------------------

const form = document.getElementById("validate-form");
const result = document.getElementById("validate-result");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = form.elements.file.files[0];
  const text = file ? await file.text() : form.elements.text.value;
  result.replaceChildren();
  if (!text.trim()) {
    result.append(el("p", "message error", t("plans.empty")));
    return;
  }
  const name = file ? file.name : "plan.yaml";
  const response = await fetch(`/api/v1/plans/validate?name=${encodeURIComponent(name)}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/yaml", Accept: "application/json" }, body: text,
  });
  const body = await response.json().catch(() => ({}));
  result.dataset.ok = String(response.ok);
  if (response.ok) {
    const p = body.plan;
    result.append(el("p", "message ok", t("plans.ok", { code: p.code, version: p.version })));
    if (body.loaded_versions && body.loaded_versions.length) {
      result.append(el("p", "muted", t("plans.ok_loaded", { versions: body.loaded_versions.join("、") })));
    }
    return;
  }
  const problems = body.problems || [];
  result.append(el("p", "message error", problems.length ? t("plans.bad", { n: problems.length })
    : errorText({ message: body.detail || response.statusText })));
  const ol = el("ol", "problems");
  for (const p of problems) {
    const li = el("li");
    li.append(el("span", "code", `${p.file}${p.line ? `:${p.line}` : ""}`), " ", el("strong", "", p.field || ""),
      ` ${p.message}`);
    ol.append(li);
  }
  result.append(ol);
});

window.addEventListener("popstate", () => {
  const params = new URLSearchParams(window.location.search);
  show(params.get("code"), params.get("version")).catch((err) => say(errorText(err), "error"));
});

Promise.all([list(), show(main.dataset.code, main.dataset.version)])
  .catch((err) => say(errorText(err), "error"));
