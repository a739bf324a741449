// Citizen reporting: a pin on the map (or the device's position), a matter picked by search (Chinese,
// pinyin initials or code), a description and an optional photo. Sent as one multipart form; the
// answer is the tracking number and key.

import { el, getJSON, t } from "./common.js";
import { pointPicker } from "./pointpicker.js";

const main = document.querySelector(".report-page");
const form = document.getElementById("report-form");
const errorBox = document.getElementById("report-error");
const search = document.getElementById("matter-search");
const matterSelect = document.getElementById("matter");

pointPicker("report-map", form, (message) => showError(message));

let searchTimer = null;
async function loadMatters() {
  const items = await getJSON(`/api/v1/public/matters?limit=60&q=${encodeURIComponent(search.value.trim())}`);
  matterSelect.replaceChildren(...items.map((m) => {
    const o = el("option", "", `${m.name}（${m.major_name}）`);
    o.value = m.code;
    o.dataset.initials = m.initials;
    return o;
  }));
  if (items.length === 1) matterSelect.value = items[0].code;
  main.dataset.matters = String(items.length);
}
search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadMatters().catch((e) => showError(e.message)), 200);
});

function showError(text) {
  errorBox.hidden = !text;
  errorBox.textContent = text || "";
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  showError("");
  if (!form.elements.lat.value) return showError(t("report.no_point"));
  // spaces alone are no description: trimmed first, such a field is empty and the browser says so
  for (const k of ["description", "name", "phone"]) form.elements[k].value = form.elements[k].value.trim();
  if (!form.checkValidity()) return form.reportValidity();
  const send = document.getElementById("send");
  send.disabled = true;
  send.textContent = t("report.sending");
  try {
    const data = new FormData(form);
    if (!data.get("photo") || !data.get("photo").size) data.delete("photo");
    for (const k of ["name", "phone"]) if (!data.get(k)) data.delete(k);
    const response = await fetch("/api/v1/public/reports", { method: "POST", body: data, credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.detail || response.statusText);
    form.hidden = true;
    document.getElementById("receipt-number").textContent = body.number;
    document.getElementById("receipt-key").textContent = body.key;
    document.getElementById("receipt-link").href = body.track_url;
    document.getElementById("receipt").hidden = false;
    main.dataset.sent = body.number;
  } catch (err) {
    showError(`${t("error")}: ${err.message}`);
  } finally {
    send.disabled = false;
    send.textContent = t("report.submit");
  }
});

loadMatters().catch((e) => showError(e.message));
