// Grid worker's phone app: report (GPS or map pick, matter search that works offline, photo) through the
// outbox, and the verification / check tasks waiting for this user.

import { actionLabel, el, getJSON, postJSON, stateLabel, t, tabs, when } from "./common.js";
import * as outbox from "./outbox.js";
import { pointPicker } from "./pointpicker.js";

const main = document.querySelector(".mobile");
const form = document.getElementById("m-form");
const errorBox = document.getElementById("m-error");
const okBox = document.getElementById("m-ok");
const net = document.getElementById("net");
const search = document.getElementById("matter-search");
const matterSelect = document.getElementById("matter");
const MATTERS_KEY = "liandong-matters";
let matters = [];

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).then(() => {
    main.dataset.sw = "registered";
  });
}

// --- tabs ----------------------------------------------------------------------------------------
tabs((tab) => {
  if (tab.id === "tab-tasks") loadTasks().catch(showError);
});

// --- where ---------------------------------------------------------------------------------------
const picker = pointPicker("m-map", form, (message) => showError(message));

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

// --- outbox --------------------------------------------------------------------------------------
async function showOutbox() {
  const items = await outbox.all();
  document.getElementById("outbox-count").textContent = String(items.length);
  main.dataset.outbox = String(items.length);
  document.getElementById("outbox").replaceChildren(...items.map((item) => {
    const li = el("li", "outbox-item", `${when(new Date(item.created).toISOString())} · ${item.body.description}`);
    if (item.error) {
      li.append(el("div", "message error", item.error));
      const drop = el("button", "button", "×");
      drop.type = "button";
      drop.setAttribute("aria-label", "remove");
      drop.addEventListener("click", () => outbox.remove(item.id).then(showOutbox));
      li.append(drop);
    }
    return li;
  }));
}

async function sync() {
  if (!navigator.onLine) return;
  try {
    await outbox.flush(() => {
      okBox.hidden = false;
      okBox.textContent = t("m.sent");
    });
  } catch (err) {
    /* the network went away again: the reports stay in the outbox */
  }
  await showOutbox();
}

function showNet() {
  net.hidden = navigator.onLine;
}
window.addEventListener("online", () => {
  showNet();
  picker.retryOutline();
  if (!matters.length) loadMatters();
  sync();
});
window.addEventListener("offline", showNet);
document.getElementById("sync").addEventListener("click", sync);

function showError(err) {
  errorBox.hidden = !err;
  errorBox.textContent = err ? (err.message || String(err)) : "";
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  showError("");
  okBox.hidden = true;
  if (!form.elements.lat.value) return showError(t("report.no_point"));
  if (!form.checkValidity()) return form.reportValidity();
  const photo = form.elements.photo.files[0] || null;
  await outbox.put({
    id: crypto.randomUUID(),
    created: Date.now(),
    body: {
      matter_code: form.elements.matter_code.value,
      description: form.elements.description.value.trim(),
      lon: Number(form.elements.lon.value),
      lat: Number(form.elements.lat.value),
      channel: "grid_worker",
    },
    photo,
    photoName: photo ? photo.name : null,
  });
  form.elements.description.value = "";
  form.elements.photo.value = "";
  okBox.hidden = false;
  okBox.textContent = t("m.queued");
  await showOutbox();
  await sync();
});

// --- tasks: cases waiting for verification or check ----------------------------------------------
const TASK_ACTIONS = { verifying: ["verified"], checking: ["check_passed", "check_failed"] };

async function loadTasks() {
  const data = await getJSON("/api/v1/cases?mine=true&sort=stage_deadline&limit=100");
  const list = document.getElementById("tasks");
  const items = data.items.filter((c) => TASK_ACTIONS[c.state]);
  list.replaceChildren(...items.map((c) => {
    const li = el("li", "task");
    li.dataset.caseId = String(c.id);
    const link = el("a", "", c.number);
    link.href = `/cases/${c.id}`;
    li.append(link, el("div", "", `${c.matter_name} · ${stateLabel(c.state)}`), el("div", "muted", c.description));
    const note = el("textarea");
    note.rows = 2;
    note.maxLength = 2000;
    note.setAttribute("aria-label", t("form.note"));
    li.append(note);
    for (const action of TASK_ACTIONS[c.state]) {
      const b = el("button", "button", actionLabel(action));
      b.type = "button";
      b.dataset.action = action;
      b.addEventListener("click", async () => {
        try {
          await postJSON(`/api/v1/cases/${c.id}/actions/${action}`, { version: c.version, note: note.value || undefined });
          await loadTasks();
        } catch (err) {
          showError(err);
        }
      });
      li.append(b);
    }
    return li;
  }));
  if (!items.length) list.append(el("li", "muted", t("m.no_tasks")));
  main.dataset.tasks = String(items.length);
}

showNet();
loadMatters();
showOutbox().then(sync);
setInterval(sync, 30000);
