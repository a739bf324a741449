// Follow a citizen report with its tracking number and key; rate the result once it is done.

import { el, t, when } from "./common.js";

const lookup = document.getElementById("lookup");
const errorBox = document.getElementById("track-error");
const rateForm = document.getElementById("rate");

async function call(url, options = {}) {
  const response = await fetch(url, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = new Error(body.detail || response.statusText);
    err.status = response.status;
    throw err;
  }
  return body;
}

function show(r) {
  errorBox.hidden = true;
  document.getElementById("status").hidden = false;
  document.getElementById("status-number").textContent = r.number;
  const stage = document.getElementById("status-stage");
  stage.textContent = t(`track.stage.${r.stage}`);
  stage.dataset.stage = r.stage;
  document.getElementById("status-matter").textContent = `${r.matter_name || ""} · ${r.description}`;
  document.getElementById("status-steps").replaceChildren(...r.steps.map((s) => {
    const li = el("li");
    const time = el("time", "muted", when(s.at));
    time.dateTime = s.at;
    li.append(time, " ", el("strong", "", t(`track.stage.${s.stage}`)));
    return li;
  }));
  rateForm.hidden = !r.can_rate;
  document.getElementById("rated").hidden = !r.satisfaction;
}

async function load() {
  const number = lookup.elements.number.value.trim();
  const key = lookup.elements.key.value.trim();
  if (!number || !key) return;
  try {
    show(await call(`/api/v1/public/reports/${encodeURIComponent(number)}?key=${encodeURIComponent(key)}`));
  } catch (err) {
    document.getElementById("status").hidden = true;
    errorBox.hidden = false;
    errorBox.textContent = err.status === 404 ? t("track.not_found") : `${t("error")}: ${err.message}`;
  }
}

// The lookup form is sent as a plain GET (no script): the number and key are in the address, so a reload or the
// language switch keeps them, and load() below shows the answer.
rateForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const satisfaction = new FormData(rateForm).get("satisfaction");
  if (!satisfaction) return rateForm.reportValidity();
  const number = lookup.elements.number.value.trim();
  try {
    show(await call(`/api/v1/public/reports/${encodeURIComponent(number)}/rating`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ key: lookup.elements.key.value.trim(), satisfaction }),
    }));
  } catch (err) {
    errorBox.hidden = false;
    errorBox.textContent = `${t("error")}: ${err.message}`;
  }
});

load();
