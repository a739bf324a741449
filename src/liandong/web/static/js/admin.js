// Administration: users and roles, units, matters and their time limits, the working calendar, areas.
// Every change goes through the admin API (which checks the role and writes the audit log).

import { LABELS, el, getJSON, t, tabs } from "./common.js";

const main = document.querySelector(".admin");
const ROLES = JSON.parse(main.dataset.roles);
const LINES = JSON.parse(main.dataset.lines);
const KINDS = JSON.parse(main.dataset.kinds);
const box = document.getElementById("admin-message");
const STAGES = ["dispatch", "sign", "dispose", "check"];
const AREA_LEVELS = ["district", "town", "community", "grid"];
const lang = LABELS.lang === "en" ? 1 : 0;

// Codes are shown by their label in the page language (the code itself where no label is known).
const label = (table, code) => ((LABELS[table] || {})[code]) || code || "";
const kindLabel = (k) => label("unit_kinds", k);
const levelLabel = (l) => label("levels", l);
const stageName = (s) => label("stages", s);
const lineLabel = (code) => (code ? (LINES[code] || [code, code])[lang] : "");
const urgencyLabel = (u) => t(`admin.${u}`);

// A national holiday by its label (stored in Chinese, or in English by databases seeded before); its "（调休）" is
// dropped as the day's kind says it already. Any other name is shown as entered.
const dayName = (name) => (LABELS.holidays || {})[(name || "").replace(/\s*[(（]调休[)）]$/, "")] || name || "";

// A result shows where the user acted, or they would see nothing happen: inside the form that was sent (after it
// when it closed itself), above the table or list whose row was acted on, after the buttons' paragraph, else at
// the top of the open tab. It is focused (so scrolled to and read out) and errors are alerts.
const SPOTS = "form, .table-wrap, .day-list, p";

function say(text, kind = "ok", spot = null) {
  if (!spot || !spot.isConnected) document.querySelector("[role=tabpanel]:not([hidden])").prepend(box);
  else if (spot.matches("form:not([hidden])")) spot.append(box);
  else if (spot.matches(".table-wrap, .day-list")) spot.before(box);
  else spot.after(box);
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.hidden = !text;
  box.textContent = text || "";
  box.className = `message ${kind}`;
  if (text) box.focus();
  main.dataset.said = String(Date.now());
}

/** Stop a form in the page, nothing sent: the reason shows at the field, in the page language, until it changes. */
function refuse(input, reason, watch = input) {
  input.setCustomValidity(reason);
  input.reportValidity();
  watch.addEventListener("input", () => input.setCustomValidity(""), { once: true });
}

// A pattern's explanation (its title, in the page language) is the whole message, not the browser's own "match the
// requested format" in the browser's language.
for (const input of main.querySelectorAll("input[pattern][title]")) {
  input.addEventListener("input", () => input.setCustomValidity(input.validity.patternMismatch ? input.title : ""));
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

/** Run a change and say how it went where it was asked for: `spot`, else the clicked button's place. */
function guard(fn, spot) {
  return (...args) => {
    const at = spot || args[0]?.currentTarget?.closest(SPOTS);  // now: a row's button is gone once its table reloads
    return Promise.resolve(fn(...args))
      .then(() => say(t("admin.saved"), "ok", at), (err) => say(`${t("error")}: ${err.message}`, "error", at));
  };
}

function option(value, text) {
  const o = el("option", "", text);
  o.value = value;
  return o;
}

for (const select of document.querySelectorAll("[data-fill=lines]")) {
  for (const [code, names] of Object.entries(LINES)) select.append(option(code, names[lang]));
}
for (const select of document.querySelectorAll("[data-fill=kinds]")) for (const k of KINDS) select.append(option(k, kindLabel(k)));
for (const select of document.querySelectorAll("[data-fill=levels]")) for (const l of AREA_LEVELS) select.append(option(l, levelLabel(l)));

function button(text, onClick, action) {
  const b = el("button", "button", text);
  b.type = "button";
  if (action) b.dataset.do = action;
  b.addEventListener("click", onClick);
  return b;
}

function roleBoxes(container, chosen = []) {
  for (const role of ROLES) {
    const box = el("label", "check");
    const input = el("input");
    input.type = "checkbox";
    input.name = "roles";
    input.value = role;
    input.checked = chosen.includes(role);
    box.append(input, ` ${label("roles", role)}`);
    container.append(box);
  }
}

/** The roles ticked in `container`; none is refused in the page, as the server refuses a user without a role. */
function chosenRoles(container) {
  const boxes = [...container.querySelectorAll("input[name=roles]")];
  const chosen = boxes.filter((i) => i.checked).map((i) => i.value);
  if (!chosen.length) refuse(boxes[0], t("admin.roles_needed"), container);
  return chosen;
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
    save.addEventListener("click", (e) => {
      const chosen = chosenRoles(boxes);
      if (!chosen.length) return;
      guard(async () => {
        await send("PUT", `/api/v1/users/${u.username}/roles`, { roles: chosen });
        await loadUsers();
      })(e);
    });
    roles.append(boxes, save);
    const acts = el("td");
    const toggle = el("button", "button", u.active ? t("admin.disable") : t("admin.enable"));
    toggle.type = "button";
    toggle.dataset.do = "active";
    toggle.addEventListener("click", guard(async () => {
      await send("PUT", `/api/v1/users/${u.username}/active`, { active: !u.active });
      await loadUsers();
    }));
    acts.append(toggle, button(t("admin.reset_password"), () => resetFor(u.username), "password"));
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
  document.getElementById("usernames").replaceChildren(...users.map((u) => option(u.username, u.display_name)));
  main.dataset.users = String(users.length);
}
loaders.users = loadUsers;

// Password reset: the administrator types the new password twice; the API ends the user's sessions.
const passwordForm = document.getElementById("password-form");

function resetFor(username) {
  passwordForm.username.value = username;
  passwordForm.password.focus();
}

passwordForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  if (f.password.value !== f.confirm.value) {
    refuse(f.confirm, t("admin.password_mismatch"));
    return;
  }
  guard(async () => {
    await send("PUT", `/api/v1/users/${encodeURIComponent(f.username.value.trim())}/password`, { password: f.password.value });
    f.reset();
    await loadUsers();
  }, f)();
});

document.getElementById("user-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  const roles = chosenRoles(f.querySelector(".role-boxes"));
  if (!roles.length) return;
  guard(async () => {
    await send("POST", "/api/v1/users", {
      username: f.username.value.trim(),
      display_name: f.display_name.value.trim() || null,
      password: f.password.value,
      unit_code: f.unit_code.value.trim(),
      roles,
    });
    f.reset();
    await loadUsers();
  }, f)();
});

// --- units ---------------------------------------------------------------------------------------
async function loadUnits() {
  const q = document.querySelector("#unit-search [name=q]").value.trim();
  const data = await getJSON(`/api/v1/units?limit=200${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  document.querySelector("#units-table tbody").replaceChildren(...data.items.map((u) => {
    const tr = el("tr");
    tr.dataset.code = u.code;
    const acts = el("td");
    acts.append(button(t("admin.edit"), () => editUnit(u), "edit"));
    tr.append(el("td", "code", u.code), el("td", "", u.name), el("td", "", kindLabel(u.kind)),
      el("td", "", lineLabel(u.line)), el("td", "code", u.parent || ""), acts);
    return tr;
  }));
  main.dataset.units = String(data.total);
}
loaders.units = loadUnits;

const unitEdit = document.getElementById("unit-edit");

function editUnit(u) {
  unitEdit.dataset.code = u.code;
  document.getElementById("unit-edit-code").textContent = u.code;
  unitEdit.name.value = u.name;
  unitEdit.kind.value = u.kind;
  unitEdit.line.value = u.line || "";
  unitEdit.parent_code.value = u.parent || "";
  unitEdit.hidden = false;
  unitEdit.name.focus();
}

unitEdit.querySelector("[data-do=cancel]").addEventListener("click", () => {
  unitEdit.hidden = true;
});
unitEdit.addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    await send("PATCH", `/api/v1/units/${encodeURIComponent(f.dataset.code)}`, {
      name: f.name.value.trim(), kind: f.kind.value, line: f.line.value || null,
      parent_code: f.parent_code.value.trim() || null,
    });
    f.hidden = true;
    await loadUnits();
  }, f)();
});
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
  }, f)();
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
    tr.append(first, el("td", "", m.name), el("td", "", lineLabel(m.line)), el("td", "", urgencyLabel(m.default_urgency)));
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
  head.append(el("th", "", ""), ...STAGES.map((s) => el("th", "", stageName(s))));
  const rows = ["normal", "urgent"].map((urgency) => {
    const tr = el("tr");
    tr.append(el("th", "", urgencyLabel(urgency)));
    for (const stage of STAGES) {
      const lim = m.limits.find((l) => l.urgency === urgency && l.stage === stage) || { amount: "", unit: "hour" };
      const td = el("td");
      const amount = el("input");
      amount.type = "number";
      amount.min = "0.5";
      amount.max = "365";
      amount.step = "0.5";
      amount.value = lim.amount;
      if (lim.amount !== "") amount.dataset.set = "true";  // the API keeps a limit it is not sent: no clearing it
      amount.dataset.urgency = urgency;
      amount.dataset.stage = stage;
      amount.setAttribute("aria-label", `${urgencyLabel(urgency)} ${stageName(stage)}`);
      const unit = el("select");
      unit.append(option("hour", t("form.hour")), option("day", t("form.day")));
      unit.value = lim.unit;
      unit.setAttribute("aria-label", `${urgencyLabel(urgency)} ${stageName(stage)} ${t("form.unit")}`);
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
  const inputs = [...form.querySelectorAll("input[data-stage]")];
  const cleared = inputs.find((i) => !i.value && i.dataset.set);
  if (cleared) {
    refuse(cleared, t("admin.limit_needed"));
    return;
  }
  const limits = inputs.filter((i) => i.value).map((i) => ({
    urgency: i.dataset.urgency, stage: i.dataset.stage, amount: Number(i.value), unit: i.nextElementSibling.value,
  }));
  guard(async () => {
    await send("PATCH", `/api/v1/catalogue/matters/${editing.code}`, {
      line: form.line.value, default_urgency: form.default_urgency.value, limits,
    });
    await loadMatters();
  }, form)();
});

// A local extension matter (地方扩展事项): created with the generic time limits, then shown for editing.
document.getElementById("local-matter-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    const m = await send("POST", "/api/v1/catalogue/matters", {
      code: f.code.value.trim(), name: f.name.value.trim(), major_code: f.major_code.value.trim(),
      major_name: f.major_name.value.trim(), line: f.line.value,
    });
    f.reset();
    document.querySelector("#matter-search [name=q]").value = m.code;
    await loadMatters();
    await editMatter(m.code);
  }, f)();
});

// --- calendar ------------------------------------------------------------------------------------
const yearForm = document.getElementById("year-form");
yearForm.year.value = String(new Date().getFullYear());

async function loadYear() {
  const y = await getJSON(`/api/v1/calendar/${yearForm.year.value}`);
  const source = LABELS.messages[`admin.source.${y.source}`] || y.source;  // (a source without a label: its code)
  document.getElementById("year-known").textContent = y.known ? t("admin.known", { source }) : t("admin.unknown");
  // entering days does not make a year known: the administrator says when all its holidays are in
  document.getElementById("year-complete").hidden = y.known;
  document.getElementById("year-reopen").hidden = !y.known;
  document.getElementById("days").replaceChildren(...y.days.map((d) => {
    const li = el("li", d.workday ? "day workday" : "day holiday", `${d.day} · ${d.workday ? t("admin.workday") : t("admin.holiday")} · ${dayName(d.name)} `);
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
for (const [id, method] of [["year-complete", "PUT"], ["year-reopen", "DELETE"]]) {
  document.getElementById(id).addEventListener("click", guard(async () => {
    await send(method, `/api/v1/calendar/${yearForm.year.value}/complete`);
    await loadYear();
  }));
}
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
  }, f)();
});

// --- areas ---------------------------------------------------------------------------------------
async function loadSummary() {
  const s = await getJSON("/api/v1/areas/summary");
  const dl = document.getElementById("area-summary");
  dl.replaceChildren();
  for (const [level, n] of Object.entries(s)) {
    if (typeof n !== "number" || (!n && !AREA_LEVELS.includes(level))) continue;  // (totals; empty side levels)
    const dt = el("dt", "", levelLabel(level));
    dt.dataset.level = level;
    dl.append(dt, el("dd", "", n));
  }
}

// The area tree a page at a time: the caller's top areas, then the children of whichever row is opened
// (district → towns → communities → unit grids), each with its unit-grid count.
const AREA_PAGE = 50;
const areaBrowser = { trail: [], offset: 0, manyRoots: false };

async function loadAreas() {
  const { trail, offset } = areaBrowser;
  const parent = trail[trail.length - 1];
  const data = parent
    ? await getJSON(`/api/v1/areas/${encodeURIComponent(parent.code)}/children?limit=${AREA_PAGE}&offset=${offset}`)
    : await getJSON("/api/v1/areas");
  if (!parent && data.items.length === 1) {  // one district (or the caller's own area): open it at once
    trail.push(data.items[0]);
    return loadAreas();
  }
  if (!parent) areaBrowser.manyRoots = true;
  document.querySelector("#areas-table tbody").replaceChildren(...data.items.map((a) => {
    const tr = el("tr");
    tr.dataset.code = a.code;
    const code = el("td", "code");
    if (a.level === "grid") code.textContent = a.code;
    else {
      const open = el("button", "linklike", a.code);
      open.type = "button";
      open.setAttribute("aria-label", `${t("admin.open_children")}: ${a.name} ${a.code}`);
      open.addEventListener("click", () => openArea(a));
      code.append(open);
    }
    tr.append(code, el("td", "", a.name), el("td", "", levelLabel(a.level)),
      el("td", "num", a.level === "grid" ? "" : a.grids ?? ""));
    return tr;
  }));
  renderTrail();
  const last = offset + data.items.length;
  document.getElementById("areas-range").textContent = data.total
    ? `${t("admin.page", { first: offset + 1, last })} · ${t("admin.area_total", { n: data.total })}` : t("none");
  document.getElementById("areas-prev").disabled = offset === 0;
  document.getElementById("areas-next").disabled = last >= data.total;
  main.dataset.areas = parent ? parent.code : "";
}

function openArea(area) {
  areaBrowser.trail.push(area);
  areaBrowser.offset = 0;
  loadAreas().catch((err) => say(err.message, "error"));
}

function renderTrail() {
  const { trail, manyRoots } = areaBrowser;
  const list = document.querySelector("#area-trail ol");
  const crumbs = [];
  const crumb = (text, keep, current) => {
    const li = el("li");
    if (current) {
      const here = el("span", "", text);
      here.setAttribute("aria-current", "location");
      li.append(here);
    } else {
      li.append(button(text, () => {
        trail.length = keep;
        areaBrowser.offset = 0;
        loadAreas().catch((err) => say(err.message, "error"));
      }));
    }
    return li;
  };
  if (manyRoots) crumbs.push(crumb(t("filter.any"), 0, trail.length === 0));
  trail.forEach((a, i) => crumbs.push(crumb(`${levelLabel(a.level)} ${a.name}`, i + 1, i === trail.length - 1)));
  list.replaceChildren(...crumbs);
}

for (const [id, step] of [["areas-prev", -AREA_PAGE], ["areas-next", AREA_PAGE]]) {
  document.getElementById(id).addEventListener("click", () => {
    areaBrowser.offset = Math.max(0, areaBrowser.offset + step);
    loadAreas().catch((err) => say(err.message, "error"));
  });
}
loaders.areas = () => Promise.all([loadSummary(), areaBrowser.trail.length ? null : loadAreas()]);
document.getElementById("import-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    const fc = JSON.parse(await f.file.files[0].text());
    const level = f.level.value ? `?level=${f.level.value}` : "";
    await send("POST", `/api/v1/areas/import${level}`, fc);
    await loadSummary();
  }, f)();
});
document.getElementById("grids-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target;
  guard(async () => {
    const params = new URLSearchParams({ target_m2: f.target_m2.value || "10000", replace: String(f.replace.checked) });
    await send("POST", `/api/v1/areas/${encodeURIComponent(f.code.value.trim())}/grids?${params}`);
    await loadSummary();
  }, f)();
});

loadUsers().catch((err) => say(err.message, "error"));
