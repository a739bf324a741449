// One hazard or dispute: facts, the place on a map, the reporter or the parties (masked unless the role calls
// them), the history from the log, and a form for each action the action table allows this user (the API's
// `allowed_actions`). Every action carries the version shown: if someone changed the item meanwhile, it reloads.

import { el, errorText, getJSON, postJSON, t, when } from "./common.js";

const main = document.querySelector(".register-item");
const kind = main.dataset.kind;
const P = kind === "hazards" ? "hz." : "md.";
const API = `/api/v1/${kind}/${main.dataset.itemId}`;
const NEEDS = JSON.parse(main.dataset.needs || "{}");
const OPTIONS = JSON.parse(main.dataset.options || "{}");
const message = document.getElementById("message");
const form = document.getElementById("action-form");
const fields = document.getElementById("action-fields");
let current = null;
let chosen = null;
let map = null;

const word = (group, value) => (value === null || value === undefined ? "—" : t(`${P}${group}.${value}`));

/** The fields of each action's form: [name, type] (text, area, date, number, list, check, select:<group>). */
const FORMS = kind === "hazards" ? {
  file: [["grade", "select:grade"], ["responsible_unit_id", "number"], ["deadline", "date"], ["measures", "area"],
    ["responsibility", "text"], ["funds", "text"], ["contingency_plan", "area"], ["note", "area"]],
  reject: [["reason", "area"]],
  rectify: [["evidence", "list"], ["note", "area"]],
  close: [["evidence", "list"], ["note", "area"]],
  reward: [["amount", "number"], ["note", "area"]],
  pay_reward: [["note", "area"]],
  to_case: [["matter_code", "text"], ["description", "area"]],
} : {
  assign: [["mediator", "text"]],
  mediate: [["note", "area"]],
  escalate: [["reason", "area"]],
  regrade: [["risk", "select:risk"]],
  resolve: [["outcome", "select:outcome"], ["note", "area"]],
  callback: [["note", "area"]],
  reopen: [["note", "area"]],
  raise_incident: [["grade", "select:level"], ["title", "text"]],
};

function say(text, kind_ = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind_}`;
}

function refusal(err) {
  if (err.body && err.body.stale) return t("scr.version_conflict");
  const allowed = (err.body && err.body.allowed_actions) || [];
  const now = allowed.length ? ` · ${t("inc.allowed_now")}: ${allowed.map((a) => word("action", a)).join("、")}` : "";
  return `${errorText(err)}${now}`;
}

function fact(dl, label, value, testid) {
  if (value === null || value === undefined || value === "") return;
  const dd = el("dd", "", value);
  if (testid) dd.dataset.testid = testid;
  dl.append(el("dt", "", label), dd);
}

function render(x) {
  current = x;
  main.dataset.state = x.state;
  document.getElementById("item-number").textContent = x.number;
  document.getElementById("item-title").textContent = x.title;
  const badges = document.getElementById("item-badges");
  const state = el("span", `badge state-${x.state}`, word("state", x.state));
  state.dataset.testid = "state";
  badges.replaceChildren(state);
  document.title = `${x.number} ${x.title}`;
  const dl = document.getElementById("facts");
  dl.replaceChildren();
  if (kind === "hazards") {
    fact(dl, t("scr.field.sector"), `${word("sector", x.sector)}${x.type ? ` · ${x.type}` : ""}`);
    fact(dl, t("scr.field.grade"), word("grade", x.grade), "grade");
    fact(dl, t("scr.field.responsible_unit_id"), x.responsible_unit ? x.responsible_unit.name : "—");
    fact(dl, t("scr.field.deadline"), x.deadline || "—");
    for (const f of ["measures", "responsibility", "funds", "contingency_plan"]) fact(dl, t(`scr.field.${f}`), x.five[f]);
    if (x.grade === "major" && x.five_missing.length) {
      fact(dl, t("hz.five_missing"), x.five_missing.map((f) => t(`scr.field.${f}`)).join("、"), "five-missing");
    }
    const r = x.reward;
    fact(dl, t("scr.field.reward"), r.amount !== null
      ? t("hz.reward_decided", { amount: r.amount, approver: r.approver || "", paid: r.paid ? t("hz.paid") : t("hz.unpaid") })
      : (r.wanted ? t("hz.reward_wanted_short") : "—"), "reward");
    if (x.case) fact(dl, t("hz.case"), `${x.case.number} (${x.case.state})`, "case");
    if (x.evidence.length) fact(dl, t("scr.field.evidence"), x.evidence.join("、"));
  } else {
    fact(dl, t("scr.field.type"), word("type", x.type));
    fact(dl, t("scr.field.risk"), word("risk", x.risk), "risk");
    fact(dl, t("scr.field.tier"), word("tier", x.tier), "tier");
    fact(dl, t("scr.field.list"), word("list", x.list));
    fact(dl, t("scr.field.mediator"), x.mediator || "—");
    fact(dl, t("scr.field.outcome"), x.outcome ? word("outcome", x.outcome) : "—");
    if (x.incident) fact(dl, t("md.incident"), `${x.incident.number}`, "incident");
  }
  fact(dl, t("scr.field.grid"), x.grid_code ? `${x.grid_code} ${x.grid_name || ""}` : "");
  fact(dl, t("scr.field.description"), x.description);
  fact(dl, t("scr.field.created_at"), when(x.created_at));
  renderPeople(x);
  renderHistory(x.history);
  renderActions(x);
  drawMap(x);
  main.dataset.loaded = String(Date.now());
}

function renderPeople(x) {
  const ul = document.getElementById("people");
  const people = kind === "hazards" ? [x.reporter] : x.parties;
  const masked = kind === "hazards" ? x.reporter.masked : x.parties_masked;
  ul.replaceChildren(...people.map((p) => {
    const li = el("li", "person");
    const bits = [kind === "hazards" ? word("kind", p.kind) : null, p.name, p.phone, p.id_number].filter(Boolean);
    li.textContent = bits.join(" · ") || "—";
    return li;
  }));
  ul.dataset.masked = String(masked);
  if (masked) ul.append(el("li", "muted small", t("scr.masked")));
}

function describe(e) {
  const p = e.payload || {};
  const bits = [];
  for (const key of ["note", "reason", "mediator", "amount", "outcome", "risk", "tier", "case_number",
    "incident_number", "deadline"]) {
    if (p[key] !== undefined) {
      const value = ["outcome", "risk", "tier"].includes(key) ? word(key, p[key]) : p[key];
      bits.push(`${t(`scr.field.${key}`)}: ${value}`);
    }
  }
  if (p.evidence) bits.push(`${t("scr.field.evidence")}: ${p.evidence.join("、")}`);
  return bits.join(" · ");
}

function renderHistory(history) {
  const ol = document.getElementById("history");
  ol.replaceChildren(...history.map((e) => {
    const li = el("li");
    li.dataset.action = e.action;
    li.append(el("strong", "", word("action", e.action)), " ", el("span", "muted", `${when(e.at)} · ${e.actor}`));
    const said = describe(e);
    if (said) li.append(el("div", "small", said));
    return li;
  }));
}

function renderActions(x) {
  const box = document.getElementById("actions");
  box.replaceChildren();
  if (!x.allowed_actions.length) box.append(el("p", "muted", t("inc.no_actions")));
  for (const name of x.allowed_actions) {
    const b = el("button", "button", word("action", name));
    b.type = "button";
    b.dataset.action = name;
    b.addEventListener("click", () => open(name));
    box.append(b);
  }
}

function input(name, type) {
  let node;
  if (type === "area") {
    node = el("textarea");
    node.rows = 2;
    node.maxLength = 2000;
  } else if (type.startsWith("select:")) {
    node = el("select");
    const group = type.slice(7);
    const values = group === "level" ? [4, 3, 2, 1] : OPTIONS[group] || [];
    if (!(NEEDS[chosen] || []).includes(name) && group !== "level") node.append(el("option", "", "—"));
    for (const v of values) {
      const o = el("option", "", group === "level" ? t(`md.level.${v}`) : word(group, v));
      o.value = String(v);
      node.append(o);
    }
    if (node.firstChild && node.firstChild.textContent === "—") node.firstChild.value = "";
  } else {
    node = el("input");
    node.type = type === "check" ? "checkbox" : type === "list" ? "text" : type;
    if (type === "check") node.checked = true;
  }
  node.name = name;
  node.dataset.type = type;
  return node;
}

function open(name) {
  chosen = name;
  document.getElementById("action-form-title").textContent = word("action", name);
  fields.replaceChildren();
  const need = NEEDS[name] || [];
  for (const [field, type] of FORMS[name] || [["note", "area"]]) {
    const wrap = el("div", "field");
    const node = input(field, type);
    node.id = `f-${field}`;
    if (need.includes(field)) node.required = true;
    const label = el("label", "", t(`scr.field.${field}`));
    label.htmlFor = node.id;
    if (need.includes(field)) label.append(" ", el("span", "req", `(${t("form.required")})`));
    if (type === "list") label.append(" ", el("span", "muted small", t("scr.list_hint")));
    wrap.append(label, node);
    fields.append(wrap);
  }
  form.hidden = false;
  const first = fields.querySelector("input, textarea, select");
  if (first) first.focus();
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!form.checkValidity()) {
    form.reportValidity();
    return;
  }
  const payload = { version: current.version };
  for (const node of fields.querySelectorAll("[name]")) {
    const type = node.dataset.type;
    if (type === "check") payload[node.name] = node.checked;
    else if (!node.value.trim()) continue;
    else if (type === "number" || type === "select:level") payload[node.name] = Number(node.value);
    else if (type === "list") payload[node.name] = node.value.split(/[\s,，、]+/).filter(Boolean);
    else payload[node.name] = node.value.trim();
  }
  try {
    const x = await postJSON(`${API}/actions/${chosen}`, payload);
    form.hidden = true;
    say(t("inc.done"));
    render(x);
  } catch (err) {
    say(refusal(err), "error");
    if (err.body && err.body.stale) await load();
  }
});

function drawMap(x) {
  if (!window.L) return;
  if (!map) {
    map = L.map("item-map", { maxZoom: 19 });
    map.attributionControl.setPrefix(false);
    if (main.dataset.tileUrl) L.tileLayer(main.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    L.circleMarker([x.lat, x.lon], { radius: 8, color: "#c0392b", fillOpacity: 0.7 }).addTo(map);
  }
  map.setView([x.lat, x.lon], 16);
}

async function load() {
  render(await getJSON(API));
}

load().catch((err) => say(errorText(err), "error"));
