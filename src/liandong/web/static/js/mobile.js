// Grid worker's phone app: report (GPS, map pick or map centre, matter search that works offline, photo)
// through the outbox, campaign visits through the same outbox (visits.js), and the verification / check tasks
// waiting for this user. Every error is shown where the worker acted (the form, the outbox, the task), in the
// page language.

import {
  HttpError, actionLabel, el, errorText, getJSON, postJSON, refusalText, say, stateLabel, t, tabs, when,
} from "./common.js";
import * as outbox from "./outbox.js";
import { pointPicker } from "./pointpicker.js";
import * as visits from "./visits.js";

const main = document.querySelector(".mobile");
const form = document.getElementById("m-form");
const errorBox = document.getElementById("m-error");
const okBox = document.getElementById("m-ok");
const editBox = document.getElementById("m-editing");
const outboxError = document.getElementById("outbox-error");
const tasksError = document.getElementById("tasks-error");
const net = document.getElementById("net");
const search = document.getElementById("matter-search");
const matterSelect = document.getElementById("matter");
const MATTERS_KEY = "liandong-matters";
let matters = [];
let editing = null; // id of the refused outbox item the form is fixing

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).then(() => {
    main.dataset.sw = "registered";
  });
}

// --- tabs ----------------------------------------------------------------------------------------
tabs((tab) => {
  document.getElementById("outbox-panel").hidden = tab.id === "tab-tasks";
  if (tab.id === "tab-visits") visits.opened();
  if (tab.id !== "tab-tasks") return;
  say(tasksError, "");
  loadTasks().catch((err) => say(tasksError, errorText(err)));
});

// --- where ---------------------------------------------------------------------------------------
const picker = pointPicker("m-map", form, (message) => say(errorBox, message));

// --- matters: fetched once, kept for offline use, filtered here ----------------------------------
function showMatters() {
  const q = search.value.trim().toLowerCase();
  const hits = matters.filter((m) => !q || m.name.includes(q) || m.code.startsWith(q) || m.initials.includes(q)).slice(0, 60);
  matterSelect.replaceChildren(...hits.map((m) => {
    const o = el("option", "", `${m.name}（${m.major_name}）`);
    o.value = m.code;
    return o;
  }));
  if (hits.length === 1) matterSelect.value = hits[0].code;
}
async function loadMatters() {
  try {
    matters = await getJSON("/api/v1/public/matters?limit=300");
    localStorage.setItem(MATTERS_KEY, JSON.stringify(matters));
  } catch {
    matters = JSON.parse(localStorage.getItem(MATTERS_KEY) || "[]");
  }
  showMatters();
}
search.addEventListener("input", showMatters);

// --- fixing a refused report: the form takes it back, "send" puts it back in the outbox -----------
function setPhoto(photo, name) {
  const files = new DataTransfer();
  if (photo) files.items.add(new File([photo], name || "photo.jpg", { type: photo.type }));
  form.elements.photo.files = files.files;
}

function startEdit(item) {
  editing = item.id;
  search.value = item.body.matter_code;
  showMatters();
  matterSelect.value = item.body.matter_code;
  form.elements.description.value = item.body.description;
  picker.place(item.body.lat, item.body.lon);
  setPhoto(item.photo, item.photoName);
  say(errorBox, "");
  okBox.hidden = true;
  editBox.hidden = false;
  form.scrollIntoView();
  form.elements.description.focus();
}

function stopEdit() {
  editing = null;
  editBox.hidden = true;
  form.elements.description.value = "";
  form.elements.photo.value = "";
}
document.getElementById("m-cancel-edit").addEventListener("click", stopEdit);

// --- outbox --------------------------------------------------------------------------------------
function button(text, describedBy, onClick) {
  const b = el("button", "button", text);
  b.type = "button";
  b.setAttribute("aria-describedby", describedBy);
  b.addEventListener("click", onClick);
  return b;
}

/** One waiting report or visit; a refused one says why and offers to fix and resend it, or to drop it. */
function outboxItem(item) {
  const kind = outbox.kindOf(item);
  const li = el("li", `outbox-item outbox-${kind}`);
  li.dataset.id = item.id;
  li.dataset.kind = kind;
  const time = when(new Date(item.created).toISOString());
  const what = el("span", "", `${time} · ${kind === "visit" ? visits.describe(item) : item.body.description}`);
  what.id = `outbox-${item.id}`;
  if (kind === "visit") li.append(el("span", "kind-badge", t("mv.item")), " ");
  li.append(what);
  if (!item.error) return li;
  li.classList.add("refused");
  const drop = () => {
    if (editing === item.id) stopEdit();
    visits.forget(item.id);
    return outbox.remove(item.id).then(showOutbox);
  };
  if (kind === "visit") {
    li.append(el("p", "message error", `${t("mv.refused")} · ${refusalText(item.status, item.error)}`));
    // fixed in the visit form while its campaign is still on the worker's list; else it can only be dropped
    if (visits.canEdit(item)) li.append(button(t("m.fix"), what.id, () => visits.edit(item)));
    else li.append(el("p", "muted", t("mv.gone")));
    li.append(button(t("mv.discard"), what.id, drop));
    return li;
  }
  const photoOnly = Boolean(item.caseId); // the case exists: only its photo is left to send
  li.append(el("p", "message error", `${t(photoOnly ? "m.refused_photo" : "m.refused")} · ${refusalText(item.status, item.error)}`));
  if (photoOnly) {
    const label = el("label", "button", t("m.other_photo"));
    const input = el("input", "visually-hidden");
    input.type = "file";
    input.accept = "image/jpeg,image/png,image/webp";
    input.setAttribute("aria-describedby", what.id);
    input.addEventListener("change", async () => {
      const photo = input.files[0];
      if (!photo) return;
      await outbox.resend(item.id, { photo, photoName: photo.name });
      await showOutbox();
      await sync();
    });
    label.append(input);
    li.append(label, button(t("m.discard_photo"), what.id, drop));
  } else {
    li.append(button(t("m.fix"), what.id, () => startEdit(item)), button(t("m.discard"), what.id, drop));
  }
  return li;
}

async function showOutbox() {
  // another account's reports wait on this phone for their owner: never shown to, nor sent as, this one
  const items = (await outbox.all()).filter((i) => outbox.ownedBy(i, main.dataset.owner))
    .sort((a, b) => a.created - b.created);
  document.getElementById("outbox-count").textContent = String(items.length);
  main.dataset.outbox = String(items.length);
  main.dataset.refused = String(items.filter((i) => i.error).length);
  document.getElementById("outbox").replaceChildren(...items.map(outboxItem));
  return items;
}

async function sync() {
  if (!navigator.onLine) return;
  let note = "";
  let refused = 0;
  try {
    refused = await outbox.flush(main.dataset.owner, (item) => {
      say(document.getElementById(outbox.kindOf(item) === "visit" ? "v-ok" : "m-ok"), t("m.sent"));
    });
  } catch (err) {
    // the items stay in the outbox either way
    note = err instanceof outbox.LoginNeeded ? t("m.login_needed") : t("m.sync_failed");
  }
  const items = await showOutbox();
  if (refused) {
    const visitsToo = items.some((i) => i.error && outbox.kindOf(i) === "visit");
    note = t(visitsToo ? "mv.refused_count" : "m.refused_count", { n: refused });
  }
  say(outboxError, note);
}

function showNet() {
  net.hidden = navigator.onLine;
}
window.addEventListener("online", () => {
  showNet();
  picker.retryOutline();
  if (!matters.length) loadMatters();
  visits.refresh();
  sync();
});
window.addEventListener("offline", showNet);
document.getElementById("sync").addEventListener("click", sync);

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  say(errorBox, "");
  okBox.hidden = true;
  if (!form.elements.lat.value) return say(errorBox, t("report.no_point"));
  if (!form.checkValidity()) return form.reportValidity();
  const photo = form.elements.photo.files[0] || null;
  const report = {
    body: {
      matter_code: form.elements.matter_code.value,
      description: form.elements.description.value.trim(),
      lon: Number(form.elements.lon.value),
      lat: Number(form.elements.lat.value),
      channel: "grid_worker",
    },
    photo,
    photoName: photo ? photo.name : null,
  };
  if (editing) await outbox.resend(editing, report);
  else await outbox.put({ id: crypto.randomUUID(), kind: "report", created: Date.now(), owner: main.dataset.owner, ...report });
  stopEdit();
  say(okBox, t("m.queued"));
  await showOutbox();
  await sync();
});

// --- tasks: cases waiting for verification or check ----------------------------------------------
const TASK_ACTIONS = { verifying: ["verified"], checking: ["check_passed", "check_failed"] };
const NEEDS = JSON.parse(main.dataset.needs || "{}"); // the server's own list: action → fields it needs
const needs = (action) => NEEDS[action] || [];

/** A task's text field, marked required (naming the actions that need it) when one of `actions` does. */
function textField(c, name, actions) {
  const area = el("textarea");
  area.name = name;
  area.id = `task-${c.id}-${name}`;
  area.rows = 2;
  area.maxLength = 2000;
  const label = el("label", "", t(`form.${name}`));
  label.htmlFor = area.id;
  const neededBy = actions.filter((a) => needs(a).includes(name));
  if (neededBy.length) {
    area.required = true;
    const which = neededBy.map(actionLabel).join(" / ");
    label.append(" ", el("span", "req", `(${t("form.required_for", { actions: which })})`));
  }
  const wrap = el("div", "field");
  wrap.append(label, area);
  return wrap;
}

function task(c) {
  const li = el("li", "task");
  li.dataset.caseId = String(c.id);
  const link = el("a", "", c.number);
  link.href = `/cases/${c.id}`;
  li.append(link, el("div", "", `${c.matter_name} · ${stateLabel(c.state)}`), el("div", "muted", c.description));
  const actions = TASK_ACTIONS[c.state];
  // a note always; a reason only where one of the actions cannot do without it
  const names = ["note", "reason"].filter((n) => n === "note" || actions.some((a) => needs(a).includes(n)));
  const wraps = names.map((n) => textField(c, n, actions));
  const fields = wraps.map((w) => w.querySelector("textarea"));
  const alert = el("p", "message error");
  alert.setAttribute("role", "alert");
  alert.hidden = true;
  li.append(...wraps, alert);
  const buttons = actions.map((action) => {
    const b = el("button", "button", actionLabel(action));
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", async () => {
      say(alert, "");
      say(tasksError, "");
      for (const f of fields) f.value = f.value.trim(); // spaces alone are no note
      // the browser points at a needed field left empty, and nothing is sent
      if (!fields.filter((f) => needs(action).includes(f.name)).every((f) => f.reportValidity())) return;
      const payload = { version: c.version };
      for (const f of fields) if (f.value) payload[f.name] = f.value;
      for (const other of buttons) other.disabled = true;
      try {
        await postJSON(`/api/v1/cases/${c.id}/actions/${action}`, payload);
        await loadTasks();
      } catch (err) {
        if (err instanceof HttpError && err.status === 409) { // changed meanwhile: show the tasks as they are now
          await loadTasks().catch(() => {});
          say(tasksError, `${t("case.version_conflict")} · ${err.message}`);
        } else {
          say(alert, errorText(err));
        }
      } finally {
        for (const other of buttons) other.disabled = false;
      }
    });
    return b;
  });
  li.append(...buttons);
  return li;
}

async function loadTasks() {
  const data = await getJSON("/api/v1/cases?mine=true&sort=stage_deadline&limit=100");
  const list = document.getElementById("tasks");
  const items = data.items.filter((c) => TASK_ACTIONS[c.state]);
  list.replaceChildren(...items.map(task));
  if (!items.length) list.append(el("li", "muted", t("m.no_tasks")));
  main.dataset.tasks = String(items.length);
}

showNet();
loadMatters();
showOutbox().then(sync);
// the outbox again once the campaigns are known: a refused visit is fixed only while its campaign is listed
visits.start(main.dataset.owner, async () => {
  await showOutbox();
  await sync();
}).then(showOutbox);
setInterval(sync, 30000);
