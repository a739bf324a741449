// Shared helpers for the pages: labels in the page language, safe DOM building, same-origin JSON calls.

export const LABELS = JSON.parse(document.body.dataset.labels || "{}");

/** A message in the page language; {name} placeholders are filled from `values`. */
export function t(key, values = {}) {
  const text = (LABELS.messages && LABELS.messages[key]) || key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? String(values[k]) : `{${k}}`));
}

export const stateLabel = (s) => (LABELS.states && LABELS.states[s]) || s;
export const actionLabel = (a) => (LABELS.actions && LABELS.actions[a]) || a;
export const channelLabel = (c) => (LABELS.channels && LABELS.channels[c]) || c;
export const lightLabel = (l) => (LABELS.lights && LABELS.lights[l]) || l || "";
export const stageLabel = (s) => (LABELS.stages && LABELS.stages[s]) || s || "";

/** Create an element with a class and text: the only way text reaches the DOM here. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** A map tooltip's content as text: Leaflet reads a string as HTML, and titles and names come from users. */
export const tipText = (text) => el("span", "", text);

export class HttpError extends Error {
  constructor(status, detail, body) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

/**
 * A refusal as the user reads it: what happened in the page language (by HTTP status), then the server's
 * own reason, which the API gives in English.
 */
export function refusalText(status, reason) {
  const messages = LABELS.messages || {};
  const key = status >= 500 ? "error.server" : `error.${status}`;
  const lead = messages[key] || t("error");
  return reason && reason !== lead ? `${lead}: ${reason}` : lead;
}

/** Any error of a call as the user reads it (a fetch that never reached the server is a TypeError). */
export function errorText(err) {
  if (err instanceof HttpError) return refusalText(err.status, err.message);
  if (err instanceof TypeError) return t("error.network");
  return `${t("error")}: ${err.message || err}`;
}

function toLogin() {
  window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
}

async function handle(response) {
  if (response.status === 401) {
    toLogin();
    throw new HttpError(401, "session expired");
  }
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("json") && response.status !== 204) body = await response.json();
  if (!response.ok) throw new HttpError(response.status, (body && body.detail) || response.statusText, body);
  return body;
}

/** Same-origin GET with the session cookie. */
export async function getJSON(url, signal) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal });
  return handle(response);
}

/** Same-origin POST of JSON (the cookie is SameSite=Lax and the body JSON, so other sites cannot forge it). */
export async function postJSON(url, payload) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(payload || {}),
  });
  return handle(response);
}

/** A date-time in the page language, in the district's time zone (LABELS.tz). */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(LABELS.lang === "en" ? "en-GB" : "zh-CN", { hour12: false, timeZone: LABELS.tz || undefined });
}

export function percent(x) {
  return x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`;
}

/** Show `text` in a message box, or hide the box when there is nothing to say. */
export function say(box, text) {
  box.hidden = !text;
  box.textContent = text || "";
}

/** ``work`` run once shortly after the last call: a burst of events (a plan activated: a task event per unit)
 * becomes one refresh. */
export function debounced(work, ms = 300) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(work, ms);
  };
}

/** Tabs: [role=tab] buttons with aria-controls; the chosen one's panel shows, the others hide. */
export function tabs(onSelect) {
  const all = [...document.querySelectorAll("[role=tab]")];
  for (const tab of all) {
    tab.addEventListener("click", () => {
      for (const other of all) {
        const on = other === tab;
        other.setAttribute("aria-selected", String(on));
        document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
      }
      if (onSelect) onSelect(tab);
    });
  }
}
