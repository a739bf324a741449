// The incident board: levels and state with a form for each action the action table allows this user (the API's
// `allowed_actions`), the place and affected areas on a map, the 五早 timeline, plans (active, proposed, activate
// one), the tasks with their marks and actions, the command log, linked cases and incidents, and the warnings
// issued. Incidents do not publish to the live feed (it carries case events), so the board polls every 10 s.
// Every action carries the version the board showed: if someone changed the incident meanwhile, it reloads.

import { debounced, el, errorText, getJSON, LABELS, postJSON, t, tipText, when } from "./common.js";
import { onIncidentEvent } from "./live-incidents.js";
import {
  category, drillBadge, duration, gradeText, incidentAction, levelBadges, logKind, responseText, stateBadge,
  taskAction, taskState, warningText,
} from "./emergency.js";

const main = document.querySelector(".incident-page");
const incidentId = main.dataset.incidentId;
const NEEDS = JSON.parse(main.dataset.needs || "{}");
const commands = main.dataset.commands === "true";
const API = `/api/v1/incidents/${incidentId}`;
const POLL_MS = 30_000;  // a safety net: the live incident stream refreshes the board at once
const message = document.getElementById("message");
const form = document.getElementById("action-form");
const fields = document.getElementById("action-fields");
let current = null;
let chosen = null;
let map = null;
let areasDrawn = "";

/** A form being filled: the poll does not redraw under the user's hands. */
const busy = () => !form.hidden || Boolean(document.querySelector(".report-form-inline"))
  || Boolean(document.activeElement && document.activeElement.closest("form"));

function say(text, kind = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind}`;
}

/** A refusal as the user reads it (the server words it in the page language by its code), and what is possible. */
function refusal(err) {
  const allowed = (err.body && err.body.allowed_actions) || [];
  if (err.body && err.body.stale) return `${t("inc.version_conflict")}`;
  const now = allowed.length ? ` · ${t("inc.allowed_now")}: ${allowed.map(incidentAction).join("、")}` : "";
  return `${errorText(err)}${now}`;
}

function fact(dl, label, value, testid) {
  if (value === null || value === undefined || value === "") return;
  const dd = el("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = String(value);
  if (testid) dd.dataset.testid = testid;
  dl.append(el("dt", "", label), dd);
}

// --- head and facts ----------------------------------------------------------------------------------

function renderHead(i) {
  document.getElementById("inc-number").textContent = i.number;
  document.getElementById("inc-title").textContent = i.title;
  const badges = document.getElementById("inc-badges");
  badges.replaceChildren(stateBadge(i.state), levelBadges(i));
  if (i.exercise) badges.append(drillBadge());
  document.getElementById("inc-sub").textContent = `${category(i.category)} · ${i.type}`;
  document.title = `${i.number} ${i.title}`;
  const dl = document.getElementById("facts");
  dl.replaceChildren();
  fact(dl, t("inc.grade"), gradeText(i.grade));
  fact(dl, t("inc.warning_level"), warningText(i.warning_level));
  fact(dl, t("inc.response_level"), responseText(i.response_level));
  fact(dl, t("inc.commander"), i.commander ? (i.commander.name || i.commander.username) : "—", "commander");
  fact(dl, t("inc.grid"), i.grid_code ? `${i.grid_code} ${i.grid_name || ""}` : "");
  fact(dl, t("inc.occurred"), when(i.occurred_at));
}

// --- actions -----------------------------------------------------------------------------------------

function field(labelText, input, required) {
  const wrap = el("div", "field");
  input.id = `f-${input.name}`;
  const label = el("label", "", labelText);
  label.htmlFor = input.id;
  if (required) {
    input.required = true;
    label.append(" ", el("span", "req", `(${t("form.required")})`));
  }
  wrap.append(label, input);
  return wrap;
}

function input(name, type = "text", max = 200) {
  const i = el("input");
  i.name = name;
  i.type = type;
  if (type === "text") i.maxLength = max;
  return i;
}

function textArea(name) {
  const area = el("textarea");
  area.name = name;
  area.maxLength = 2000;
  area.rows = 3;
  return area;
}

function select(name, options, blank) {
  const s = el("select");
  s.name = name;
  if (blank) s.append(Object.assign(el("option", "", blank), { value: "" }));
  for (const [value, text] of options) {
    const o = el("option", "", text);
    o.value = String(value);
    s.append(o);
  }
  return s;
}

const LEVELS = [1, 2, 3, 4];
const levelSelect = (name, words, blank) => select(name, LEVELS.map((lv) => [lv, words(lv)]), blank);

function openForm(action) {
  chosen = action;
  say("");
  document.getElementById("action-form-title").textContent = incidentAction(action);
  fields.replaceChildren();
  const needs = NEEDS[action] || [];
  const req = (name) => needs.includes(name);
  if (action === "verify" || action === "regrade") {
    const g = levelSelect("grade", gradeText, `— ${t("inc.none_level")}`);
    g.value = String(current.grade);
    fields.append(field(t("inc.grade"), g, false));
    const w = levelSelect("warning_level", warningText, `— ${t("inc.none_level")}`);
    w.value = current.warning_level ? String(current.warning_level) : "";
    fields.append(field(t("inc.warning_level"), w, false));
  }
  if (action === "respond" || action === "regrade") {
    const r = levelSelect("response_level", responseText, action === "regrade" ? `— ${t("inc.none_level")}` : null);
    r.value = current.response_level ? String(current.response_level) : (action === "respond" ? "4" : "");
    fields.append(field(t("inc.response_level"), r, req("response_level")));
  }
  if (action === "report_up") {
    const to = input("to", "text", 100);
    to.placeholder = t("inc.to_hint");
    fields.append(field(t("inc.to"), to, true));
  }
  if (action === "link") {
    fields.append(field(t("inc.other_id"), input("other_id", "text", 32), true));
    fields.append(field(t("inc.link_kind"), select("kind", [["secondary", t("inc.link.secondary")],
      ["derived", t("inc.link.derived")]]), true));
  }
  if (action === "link_case") fields.append(field(t("inc.case_id"), input("case_id", "text", 32), true));
  if (req("reason")) fields.append(field(t("inc.reason"), textArea("reason"), true));
  else if (!["link", "link_case"].includes(action)) fields.append(field(t("inc.note"), textArea("note"), req("note")));
  form.hidden = false;
  form.dataset.action = action;
  const first = fields.querySelector("input, select, textarea");
  if (first) first.focus();
}

/** An incident's id from what was typed: an id, or its number (YJ-20261202-0001). */
async function incidentIdOf(text) {
  if (/^\d+$/.test(text)) return Number(text);
  const found = await getJSON("/api/v1/incidents?limit=500");
  const hit = found.items.find((i) => i.number === text);
  if (!hit) throw new Error(`${t("error.404")}: ${text}`);
  return hit.id;
}

/** A case's id from what was typed: an id, or its number. */
async function caseIdOf(text) {
  if (/^\d+$/.test(text)) return Number(text);
  const found = await getJSON(`/api/v1/cases?q=${encodeURIComponent(text)}&limit=5`);
  const hit = found.items.find((c) => c.number === text);
  if (!hit) throw new Error(`${t("form.master_unknown")}: ${text}`);
  return hit.id;
}

async function payloadFromForm() {
  const payload = { version: current.version };
  for (const [k, v] of new FormData(form)) {
    if (v === "") continue;
    if (["grade", "warning_level", "response_level"].includes(k)) payload[k] = Number(v);
    else if (k === "other_id") payload[k] = await incidentIdOf(v.trim());
    else if (k === "case_id") payload[k] = await caseIdOf(v.trim());
    else payload[k] = v;
  }
  return payload;
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!form.checkValidity()) {
    form.reportValidity();
    return;
  }
  try {
    const payload = await payloadFromForm();
    current = chosen === "link_case"  // a case is linked by its own endpoint (the same action underneath)
      ? await postJSON(`${API}/cases`, { case_id: payload.case_id, version: current.version })
      : await postJSON(`${API}/actions/${chosen}`, payload);
    form.hidden = true;
    say(`${incidentAction(chosen)}: ${t("inc.done")}`);
    await render(current);
  } catch (err) {
    if (err.status === 409) await reload();
    say(err.status ? refusal(err) : err.message, "error");
  }
});

function renderActions(i) {
  const box = document.getElementById("actions");
  box.replaceChildren();
  for (const action of i.allowed_actions) {
    const b = el("button", "button", incidentAction(action));
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", () => openForm(action));
    box.append(b);
  }
  if (!i.allowed_actions.length) box.append(el("p", "muted", t("inc.no_actions")));
}

// --- map ---------------------------------------------------------------------------------------------

function renderMap(i) {
  if (!window.L) return;
  if (!map) {
    map = L.map("inc-map", { zoomControl: true });
    map.attributionControl.setPrefix(false);
    if (main.dataset.tileUrl) L.tileLayer(main.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    map.setView([i.lat, i.lon], 15);
    map.affected = L.featureGroup().addTo(map);
    map.dot = L.circleMarker([i.lat, i.lon], { radius: 9, color: "#a3201a", fillOpacity: 0.8 }).addTo(map);
    map.dot.bindTooltip(tipText(`${i.number} ${i.title}`));
  }
  renderResources(i);
  const list = document.getElementById("areas");
  list.replaceChildren(...(i.areas || []).map((a) => el("li", "", `${a.code} ${a.name}`)));
  const key = (i.areas || []).map((a) => a.code).join(",");
  if (key === areasDrawn) return;
  areasDrawn = key;
  map.affected.clearLayers();
  const shapes = (i.areas || []).map((a) => getJSON(
    `/api/v1/areas/geojson?level=${encodeURIComponent(a.level)}&within=${encodeURIComponent(a.code)}&simplify=10`)
    .then((fc) => {
      const own = { ...fc, features: fc.features.filter((f) => f.properties.code === a.code) };
      L.geoJSON(own, { style: { color: "#0b5cad", weight: 2, fillOpacity: 0.12 } })
        .bindTooltip(tipText(`${a.code} ${a.name}`)).addTo(map.affected);
    }).catch(() => {}));  // the map helps; the list of areas is the record
  Promise.all(shapes).then(() => {
    const bounds = map.affected.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds.extend(map.dot.getLatLng()), { padding: [10, 10] });
    map.dot.bringToFront();
    document.getElementById("inc-map").dataset.areas = String(map.affected.getLayers().length);
  });
}

// The active plans' resources, listed with their holders, and on the map where the holders stand.
function renderResources(i) {
  const list = document.getElementById("resources");
  const resources = i.resources || [];
  list.replaceChildren(...resources.map((r) => el("li", "", `${r.name} ${r.quantity}${r.unit} · ${
    r.holders.length ? r.holders.map((h) => h.name).join("、") : t("inc.no_holder")}`)));
  if (!resources.length) list.append(el("li", "muted", t((i.activations || []).length ? "inc.plan_no_resources"
                                                                                        : "inc.no_resources")));
  const byHolder = new Map();
  for (const r of resources) {
    for (const h of r.holders) {
      const entry = byHolder.get(h.id) || { ...h, items: [] };
      entry.items.push(`${r.name} ${r.quantity}${r.unit}`);
      byHolder.set(h.id, entry);
    }
  }
  if (!map.resources) map.resources = L.featureGroup().addTo(map);
  map.resources.clearLayers();
  for (const h of byHolder.values()) {
    if (h.lat == null) continue;
    const tip = el("div", "", h.name);
    tip.append(...h.items.map((item) => el("div", "", item)));  // text nodes: names never read as HTML
    L.circleMarker([h.lat, h.lon], { radius: 6, color: "#1d7a3a", fillColor: "#3fae5f", fillOpacity: 0.9 })
      .bindTooltip(tip).addTo(map.resources);
  }
  document.getElementById("inc-map").dataset.resources = String(map.resources.getLayers().length);
}

// --- 五早 ------------------------------------------------------------------------------------------

const MOMENTS = ["discovered", "reported", "assessed", "disposed", "resolved"];
const STEP_BEFORE = { assessed: "discover_assess", disposed: "assess_dispose", resolved: "dispose_resolve" };
const SINCE_DISCOVERY = { reported: "discover_report", disposed: "discover_dispose", resolved: "discover_resolve" };

function renderFiveEarly(i) {
  const f = i.five_early || {};
  const iv = f.intervals || {};
  const list = document.getElementById("five-early");
  list.replaceChildren(...MOMENTS.map((m) => {
    const at = f[`${m}_at`];
    const li = el("li", `five five-${m}${at ? " reached" : " pending"}`);
    li.dataset.moment = m;
    li.append(el("strong", "", t(`inc.five.${m}`)), " ");
    if (at) {
      const time = el("time", "", when(at));
      time.dateTime = at;
      li.append(time);
    } else {
      li.append(el("span", "muted", t("inc.five.pending")));
    }
    const notes = [];
    if (at && STEP_BEFORE[m] && iv[STEP_BEFORE[m]] !== null && iv[STEP_BEFORE[m]] !== undefined) {
      notes.push(t("inc.five.step", { d: duration(iv[STEP_BEFORE[m]]) }));
    }
    if (at && SINCE_DISCOVERY[m] && iv[SINCE_DISCOVERY[m]] !== null && iv[SINCE_DISCOVERY[m]] !== undefined) {
      notes.push(t("inc.five.after", { d: duration(iv[SINCE_DISCOVERY[m]]) }));
    }
    if (notes.length) li.append(el("span", "muted interval", ` · ${notes.join(" · ")}`));
    if (m === "reported" && f.report_late) {
      const flag = el("span", "flag-late", t("inc.five.missed"));
      flag.dataset.testid = "report-late";
      li.append(" ", flag);
    }
    return li;
  }));
  list.dataset.reached = String(MOMENTS.filter((m) => f[`${m}_at`]).length);
  document.getElementById("five-limit").textContent = f.report_limit_minutes
    ? t("inc.five.limit", { m: f.report_limit_minutes, at: when(f.report_deadline) }) : "";
}

// --- plans and tasks ------------------------------------------------------------------------------

let plans = null;
async function renderPlans(i) {
  const list = document.getElementById("activations");
  list.replaceChildren(...(i.activations || []).map((a) => {
    const li = el("li", "activation");
    li.dataset.plan = a.plan;
    li.append(el("strong", "", `${a.plan} v${a.plan_version}`), ` · ${responseText(a.response_level)} · ${a.by} · ${when(a.at)}`);
    if (a.unresolved && a.unresolved.length) {
      li.append(el("div", "muted", t("inc.unresolved", { what: a.unresolved.map((u) => u.owner || u.to || JSON.stringify(u)).join("、") })));
    }
    return li;
  }));
  if (!list.children.length) list.append(el("li", "muted", t("none")));
  const proposed = i.proposed_plans || [];
  document.getElementById("proposed").textContent = proposed.length
    ? `${t("inc.plans_proposed")}: ${proposed.map((p) => `${p.name}（${p.level_name}）`).join("、")}` : "";
  const planSelect = document.getElementById("activate-plan");
  if (!planSelect) return;
  if (!plans) plans = await getJSON("/api/v1/plans");
  if (!planSelect.options.length) {
    for (const p of plans) {
      const o = el("option", "", `${p.name} (${p.code} v${p.version})`);
      o.value = p.code;
      o.disabled = p.category !== i.category;
      planSelect.append(o);
    }
    const first = proposed[0] || plans.find((p) => p.category === i.category);
    if (first) planSelect.value = first.code;
    if (proposed[0]) document.getElementById("activate-level").value = String(proposed[0].response_level);
  }
}

function taskRow(task) {
  const tr = el("tr");
  tr.dataset.taskId = String(task.id);
  tr.dataset.state = task.state;
  const title = el("td");
  title.append(el("span", "", task.title));
  if (task.details) title.append(el("div", "muted small", task.details));
  if (task.report) title.append(el("div", "note", `${t("inc.report")}: ${task.report}`));
  const state = el("td");
  state.append(el("span", `task-state task-${task.state}`, taskState(task.state)));
  if (task.acked_on_behalf) state.append(" ", el("span", "muted small", t("inc.on_behalf")));
  if (task.late) {
    const mark = el("span", "flag-late", t("inc.late"));
    mark.dataset.testid = "late";
    state.append(" ", mark);
  }
  if (task.unacknowledged) {
    const mark = el("span", "flag-unacked", t("inc.unacked"));
    mark.dataset.testid = "unacked";
    state.append(" ", mark);
  }
  const acts = el("td", "task-actions");
  for (const action of task.allowed_actions) {
    acts.append(taskButton(task, action, action));
    if (action === "ack" && commands) acts.append(taskButton(task, "ack", "ack_behalf"));
  }
  tr.append(title, el("td", "", task.owner ? task.owner.name : ""), state, el("td", "", when(task.due_at)), acts);
  return tr;
}

function taskButton(task, action, label) {
  const b = el("button", "button", taskAction(label));
  b.type = "button";
  b.dataset.taskAction = label;
  b.addEventListener("click", () => {
    if (action === "done") openReport(task, b);
    else actOnTask(task, action, label === "ack_behalf" ? { on_behalf: true } : {});
  });
  return b;
}

function openReport(task, button) {
  const cell = button.closest("td");
  const box = el("form", "report-form-inline");
  const area = textArea("report");
  area.required = true;
  area.rows = 2;
  area.placeholder = t("inc.report_hint");
  area.setAttribute("aria-label", t("inc.report"));
  const send = el("button", "button", t("form.submit"));
  send.type = "submit";
  box.append(area, send);
  box.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!area.value.trim()) {
      area.reportValidity();
      return;
    }
    actOnTask(task, "done", { report: area.value.trim() });
  });
  cell.replaceChildren(box);
  area.focus();
}

async function actOnTask(task, action, extra) {
  try {
    await postJSON(`/api/v1/tasks/${task.id}/actions/${action}`, { version: task.version, ...extra });
    say(`${taskAction(extra.on_behalf ? "ack_behalf" : action)}: ${task.title} · ${t("inc.done")}`);
  } catch (err) {
    const allowed = (err.body && err.body.allowed_actions) || [];
    const now = allowed.length ? ` · ${t("inc.allowed_now")}: ${allowed.map(taskAction).join("、")}` : "";
    say(`${errorText(err)}${now}`, "error");
  }
  await reload();
}

async function renderTasks(i) {
  const data = await getJSON(`${API}/tasks`);
  const body = document.getElementById("tasks");
  body.replaceChildren(...data.items.map(taskRow));
  if (!data.items.length) {
    const tr = el("tr");
    const td = el("td", "muted", t("inc.no_tasks"));
    td.colSpan = 5;
    tr.append(td);
    body.append(tr);
  }
  const c = i.tasks || {};
  document.getElementById("tasks-summary").textContent = c.total
    ? t("inc.tasks_summary", { total: c.total, late: c.late, unacked: c.unacknowledged }) : "";
  main.dataset.tasks = String(data.items.length);
}

// --- log, cases, warnings ---------------------------------------------------------------------------

function logLine(e) {
  const li = el("li", `log-entry log-${e.kind}`);
  li.dataset.kind = e.kind;
  const time = el("time", "muted", when(e.at));
  time.dateTime = e.at;
  const who = e.actor_name || e.actor;
  li.append(time, " ", el("strong", "", e.action ? incidentAction(e.action) : logKind(e.kind)), ` · ${who}`);
  if (e.kind === "action" && e.from && e.to && e.from !== e.to) {
    li.append(` · ${LABELS.incident_states?.[e.from] || e.from} → ${LABELS.incident_states?.[e.to] || e.to}`);
  }
  const p = e.payload || {};
  if (e.kind === "task" && p.title) li.append(el("div", "note", `${p.title}${p.unit_name ? `（${p.unit_name}）` : ""}`));
  const to = e.action === "report_up" && p.to ? `${t("inc.to")}: ${p.to}` : "";  // (a task event's `to` is a state)
  const words = e.text || p.note || p.reason || p.report || to;
  if (words) li.append(el("div", "note", words));
  return li;
}

async function renderLog() {
  const entries = await getJSON(`${API}/log`);
  const list = document.getElementById("log");
  list.replaceChildren(...entries.slice().reverse().map(logLine));  // the newest on top
  if (!entries.length) list.append(el("li", "muted", t("inc.log_empty")));
  main.dataset.logEntries = String(entries.length);
}

function renderCases(i) {
  const list = document.getElementById("cases");
  list.replaceChildren(...(i.cases || []).map((c) => {
    const li = el("li");
    const a = el("a", "", c.number);
    a.href = `/cases/${c.id}`;
    li.append(a, ` · ${(LABELS.states && LABELS.states[c.state]) || c.state} · ${t(`inc.how.${c.how}`)}`);
    return li;
  }));
  if (!list.children.length) list.append(el("li", "muted", t("none")));
  const links = document.getElementById("links");
  links.replaceChildren(...(i.links || []).map((l) => {
    const li = el("li");
    const a = el("a", "", `${l.number} ${l.title}`);
    a.href = `/incidents/${l.id}`;
    li.append(a, ` · ${t(`inc.link.${l.kind}`)} · ${LABELS.incident_states?.[l.state] || l.state}`);
    return li;
  }));
  if (!links.children.length) links.append(el("li", "muted", t("none")));
}

async function renderWarnings() {
  const list = document.getElementById("warnings");
  let items = [];
  try {
    const data = await getJSON(`${API}/warnings`);
    items = Array.isArray(data) ? data : (data.items || []);
  } catch (err) {
    if (err.status !== 404 && err.status !== 405) throw err;  // no warnings service (yet): nothing issued
  }
  list.replaceChildren(...items.map((w) => {
    const li = el("li", "warning-item");
    li.dataset.identifier = w.identifier;
    const a = el(w.url ? "a" : "span", "", w.headline || w.identifier);
    if (w.url) a.href = w.url;
    li.append(a, el("div", "muted small", [t(`inc.msg.${w.msg_type}`), w.status, when(w.sent), w.identifier]
      .filter(Boolean).join(" · ")));
    return li;
  }));
  if (!items.length) list.append(el("li", "muted", t("inc.warnings_none")));
}

// --- forms: activate, log, warning -----------------------------------------------------------------

const activateForm = document.getElementById("activate-form");
if (activateForm) {
  for (const o of activateForm.querySelectorAll("[data-response-label]")) o.textContent = responseText(Number(o.value));
  activateForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(activateForm);
    try {
      const done = await postJSON(`${API}/plans/${encodeURIComponent(data.get("plan"))}/activate`,
        { response_level: Number(data.get("response_level")), version: current.version });
      const made = (done.activation && done.activation.plans) || [];
      const n = made.reduce((sum, p) => sum + (p.tasks_created || 0), 0);
      say(t("inc.activated", { plan: data.get("plan"), n }));
      await render(done);
    } catch (err) {
      if (err.status === 409) await reload();
      say(refusal(err), "error");
    }
  });
}

const logForm = document.getElementById("log-form");
if (logForm) {
  for (const o of logForm.querySelectorAll("[data-log-kind]")) o.textContent = logKind(o.value);
  logForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(logForm);
    try {
      await postJSON(`${API}/log`, { kind: data.get("kind"), text: data.get("text") });
      logForm.reset();
      say(`${t("inc.log_add")}: ${t("inc.done")}`);
      await renderLog();
    } catch (err) {
      say(errorText(err), "error");
    }
  });
}

const warningForm = document.getElementById("warning-form");
if (warningForm) {
  warningForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(warningForm);
    const body = {};
    for (const [k, v] of data) if (v !== "") body[k] = v;
    if (body.expires) body.expires = new Date(body.expires).toISOString();  // the browser's wall time, as UTC
    try {
      const made = await postJSON(`${API}/warnings`, body);
      warningForm.reset();
      say(t("inc.warning_sent", { identifier: made.identifier }));
      await renderWarnings();
    } catch (err) {
      say(err.status === 404 || err.status === 405 ? t("inc.warnings_unavailable") : errorText(err), "error");
    }
  });
}

// --- loading and polling ---------------------------------------------------------------------------

async function render(i) {
  current = i;
  renderHead(i);
  renderActions(i);
  renderMap(i);
  renderFiveEarly(i);
  renderCases(i);
  await Promise.all([renderPlans(i), renderTasks(i), renderLog(), renderWarnings()]);
  main.dataset.version = String(i.version);
  main.dataset.state = i.state;
  main.dataset.loaded = String(Date.now());
}

async function reload() {
  await render(await getJSON(API));
}

async function poll() {
  if (!busy() && !document.hidden) {
    try {
      const fresh = await getJSON(API);
      if (!current || fresh.version !== current.version || Date.now() - Number(main.dataset.loaded || 0) > 30_000) {
        await render(fresh);
      } else {
        await Promise.all([renderTasks(fresh), renderLog()]);  // tasks and log entries move without the incident
      }
    } catch {
      /* the next poll tries again */
    }
  }
  setTimeout(poll, POLL_MS);
}

async function refreshNow() {
  if (busy() || document.hidden) return;
  try {
    await render(await getJSON(API));
  } catch {
    /* the next event or poll tries again */
  }
}

const soon = debounced(refreshNow);
onIncidentEvent((item) => { if (String(item.incident_id) === String(current && current.id)) soon(); });

reload()
  .then(() => setTimeout(poll, POLL_MS))
  .catch((err) => say(err.status === 404 ? `404 · ${err.message}` : errorText(err), "error"));
