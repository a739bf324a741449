// Administration: users and roles, units, matters and their time limits, the working calendar, areas.
// Every change goes through the admin API (which checks the role and writes the audit log).

import { LABELS, el, getJSON, t, tabs } from "./common.js";

const main = document.querySelector(".admin");
const ROLES = JSON.parse(main.dataset.roles);
const LINES = JSON.parse(main.dataset.lines);
const KINDS = JSON.parse(main.dataset.kinds);
const box = document.getElementById("admin-message");
const STAGES = ["dispatch", "sign", "dispose", "check"];
const lang = LABELS.lang === "en" ? 1 : 0;

function say(text, kind = "ok") {
  box.hidden = !text;
  box.textContent = text || "";
  box.className = `message ${kind}`;
  main.dataset.said = String(Date.now());
}

async function send(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.detail) || response.statusText);
  return data;
}

function guard(fn) {
  return (...args) =>
    Promise.resolve(fn(...args)).then(() => say(t("admin.saved")), (err) => say(`${t("error")}: ${err.message}`, "error"));
}

function option(value, text) {
  const o = el("option", "", text);
  o.value = value;
  return o;
}

for (const select of document.querySelectorAll("[data-fill=lines]")) {
  for (const [code, names] of Object.entries(LINES)) select.append(option(code, names[lang]));
}
for (const select of document.querySelectorAll("[data-fill=kinds]")) for (const k of KINDS) select.append(option(k, k));

function roleBoxes(container, chosen = []) {
  for (const role of ROLES) {
    const label = el("label", "check");
    const input = el("input");
    input.type = "checkbox";
    input.name = "roles";
    input.value = role;
    input.checked = chosen.includes(role);
    label.append(input, ` ${(LABELS.roles || {})[role] || role}`);
    container.append(label);
  }
}

// --- tabs ----------------------------------------------------------------------------------------
const loaders = {};
tabs((tab) => {
  const load = loaders[tab.id.slice(4)];
  if (load) load().catch((err) => say(err.message, "error"));
});

// --- users ---------------------------------------------------------------------------------------
roleBoxes(document.querySelector("#user-form .role-boxes"));

async function loadUsers() {
  const users = await getJSON("/api/v1/users");
  const body = document.querySelector("#users-table tbody");
  body.replaceChildren(...users.map((u) => {
    const tr = el("tr");
    tr.dataset.username = u.username;
    const roles = el("td");
    const boxes = el("div", "role-boxes");
    roleBoxes(boxes, u.roles);
    const save = el("button", "button", t("admin.save"));
    save.type = "button";
    save.dataset.do = "roles";
    save.addEventListener("click", guard(async () => {
      const chosen = [...boxes.querySelectorAll("input:checked")].map((i) => i.value);
      await send("PUT", `/api/v1/users/${u.username}/roles`, { roles: chosen });
      await loadUsers();
    }));
    roles.append(boxes, save);
    const acts = el("td");
    const toggle = el("button", "button", u.active ? t("admin.disable") : t("admin.enable"));
    toggle.type = "button";
    toggle.dataset.do = "active";
    toggle.addEventListener("click", guard(async () => {
      await send("PUT", `/api/v1/users/${u.username}/active`, { active: !u.active });
      await loadUsers();
    }));
    acts.append(toggle);
    if (u.locked) {
      const unlock = el("button", "button", t("admin.unlock"));
      unlock.type = "button";
      unlock.addEventListener("click", guard(async () => {
        await send("POST", `/api/v1/users/${u.username}/unlock`);
        await loadUsers();
      }));
      acts.append(unlock);
    }
    const status = u.locked ? t("admin.locked") : u.active ? t("admin.on") : t("admin.off");
    tr.append(el("td", "code", u.username), el("td", "", u.display_name), el("td", "", u.unit.name), roles,
      el("td", "", status), acts);
    return tr;
  }));
  main.dataset.users = String(users.length);
}
loaders.users = loadUsers;

document.getElementById("user-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    await send("POST", "/api/v1/users", {
      username: f.username.value.trim(),
      display_name: f.display_name.value.trim() || null,
      password: f.password.value,
      unit_code: f.unit_code.value.trim(),
      roles: [...f.querySelectorAll("input[name=roles]:checked")].map((i) => i.value),
    });
    f.reset();
    await loadUsers();
  })();
});

// --- units ---------------------------------------------------------------------------------------
async function loadUnits() {
  const q = document.querySelector("#unit-search [name=q]").value.trim();
  const data = await getJSON(`/api/v1/units?limit=200${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  document.querySelector("#units-table tbody").replaceChildren(...data.items.map((u) => {
    const tr = el("tr");
    tr.append(el("td", "code", u.code), el("td", "", u.name), el("td", "", u.kind),
      el("td", "", u.line ? (LINES[u.line] || [u.line])[lang] : ""));
    return tr;
  }));
}
loaders.units = loadUnits;
document.getElementById("unit-search").addEventListener("submit", (e) => {
  e.preventDefault();
  loadUnits();
});
document.getElementById("unit-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    await send("POST", "/api/v1/units", {
      code: f.code.value.trim(), name: f.name.value.trim(), kind: f.kind.value, line: f.line.value || null,
      area_code: f.area_code.value.trim(), parent_code: f.parent_code.value.trim() || null,
    });
    f.reset();
    await loadUnits();
  })();
});

// --- catalogue -----------------------------------------------------------------------------------
let editing = null;

async function loadMatters() {
  const q = document.querySelector("#matter-search [name=q]").value.trim();
  const data = await getJSON(`/api/v1/catalogue/matters?limit=100${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  document.querySelector("#matters-table tbody").replaceChildren(...data.items.map((m) => {
    const tr = el("tr");
    tr.dataset.code = m.code;
    const link = el("button", "linklike", m.code);
    link.type = "button";
    link.addEventListener("click", () => editMatter(m.code));
    const first = el("td");
    first.append(link);
    tr.append(first, el("td", "", m.name), el("td", "", (LINES[m.line] || [m.line])[lang]),
      el("td", "", t(`admin.${m.default_urgency}`)));
    return tr;
  }));
}
loaders.catalogue = loadMatters;
document.getElementById("matter-search").addEventListener("submit", (e) => {
  e.preventDefault();
  loadMatters();
});

async function editMatter(code) {
  const m = await getJSON(`/api/v1/catalogue/matters/${code}`);
  editing = m;
  const form = document.getElementById("matter-form");
  form.hidden = false;
  document.getElementById("matter-title").textContent = `${m.code} ${m.name}`;
  form.line.value = m.line;
  form.default_urgency.value = m.default_urgency;
  const table = document.getElementById("limits");
  const head = el("tr");
  head.append(el("th", "", ""), ...STAGES.map((s) => el("th", "", (LABELS.stages || {})[s] || s)));
  const rows = ["normal", "urgent"].map((urgency) => {
    const tr = el("tr");
    tr.append(el("th", "", t(`admin.${urgency}`)));
    for (const stage of STAGES) {
      const lim = m.limits.find((l) => l.urgency === urgency && l.stage === stage) || { amount: "", unit: "hour" };
      const td = el("td");
      const amount = el("input");
      amount.type = "number";
      amount.min = "0.5";
      amount.max = "365";
      amount.step = "0.5";
      amount.value = lim.amount;
      amount.dataset.urgency = urgency;
      amount.dataset.stage = stage;
      amount.setAttribute("aria-label", `${urgency} ${stage}`);
      const unit = el("select");
      unit.append(option("hour", t("form.hour")), option("day", t("form.day")));
      unit.value = lim.unit;
      unit.setAttribute("aria-label", `${urgency} ${stage} unit`);
      td.append(amount, unit);
      tr.append(td);
    }
    return tr;
  });
  table.replaceChildren(head, ...rows);
  form.dataset.code = code;
}

document.getElementById("matter-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target;
  const limits = [...form.querySelectorAll("input[data-stage]")].filter((i) => i.value).map((i) => ({
    urgency: i.dataset.urgency, stage: i.dataset.stage, amount: Number(i.value), unit: i.nextElementSibling.value,
  }));
  guard(async () => {
    await send("PATCH", `/api/v1/catalogue/matters/${editing.code}`, {
      line: form.line.value, default_urgency: form.default_urgency.value, limits,
    });
    await loadMatters();
  })();
});

// --- calendar ------------------------------------------------------------------------------------
const yearForm = document.getElementById("year-form");
yearForm.year.value = String(new Date().getFullYear());

async function loadYear() {
  const y = await getJSON(`/api/v1/calendar/${yearForm.year.value}`);
  document.getElementById("year-known").textContent = y.known ? `${t("admin.known")} (${y.source})` : t("admin.unknown");
  document.getElementById("days").replaceChildren(...y.days.map((d) => {
    const li = el("li", d.workday ? "day workday" : "day holiday", `${d.day} · ${d.workday ? t("admin.workday") : t("admin.holiday")} · ${d.name || ""} `);
    li.dataset.day = d.day;
    const drop = el("button", "button", t("admin.remove"));
    drop.type = "button";
    drop.addEventListener("click", guard(async () => {
      await send("DELETE", `/api/v1/calendar/days/${d.day}`);
      await loadYear();
    }));
    li.append(drop);
    return li;
  }));
}
loaders.calendar = loadYear;
yearForm.addEventListener("submit", (e) => {
  e.preventDefault();
  loadYear();
});
document.getElementById("day-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    await send("PUT", `/api/v1/calendar/days/${f.day.value}`, { workday: f.workday.value === "true", name: f.name.value || null });
    yearForm.year.value = f.day.value.slice(0, 4);
    await loadYear();
  })();
});

// --- areas ---------------------------------------------------------------------------------------
async function loadSummary() {
  const s = await getJSON("/api/v1/areas/summary");
  const dl = document.getElementById("area-summary");
  dl.replaceChildren();
  for (const [level, n] of Object.entries(s)) dl.append(el("dt", "", level), el("dd", "", n));
}
loaders.areas = loadSummary;
document.getElementById("import-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    const fc = JSON.parse(await f.file.files[0].text());
    const level = f.level.value ? `?level=${f.level.value}` : "";
    await send("POST", `/api/v1/areas/import${level}`, fc);
    await loadSummary();
  })();
});
document.getElementById("grids-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    const params = new URLSearchParams({ target_m2: f.target_m2.value || "10000", replace: String(f.replace.checked) });
    await send("POST", `/api/v1/areas/${encodeURIComponent(f.code.value.trim())}/grids?${params}`);
    await loadSummary();
  })();
});

loadUsers().catch((err) => say(err.message, "error"));
