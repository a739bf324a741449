// Shared by the warnings page and the command centre's warnings panel: CAP words (states, message types, statuses,
// urgency, severity, certainty) in the page language, their badges, and the colour a warning's area is drawn in.

import { LABELS, el } from "./common.js";

/** A CAP value in words (`cap.severity.Severe` → 严重); a value without wording shows as itself. */
export function capWord(kind, value) {
  if (value === null || value === undefined || value === "") return "";
  const key = `cap.${kind}.${value}`;
  return (LABELS.messages && LABELS.messages[key]) || String(value);
}

export const SEVERITY_COLOURS = { Extreme: "#7b1010", Severe: "#c0392b", Moderate: "#e67e22", Minor: "#c99700",
  Unknown: "#1f6fb5" };
const ISSUED_COLOURS = { current: "#c0392b", superseded: "#7f8c8d", expired: "#95a5a6", cancel: "#7f8c8d" };
const GREY = "#95a5a6";

export const isDrill = (w) => w.status === "Exercise";

/** Whether the warning is in force now: an issued one ``current``, a received one ``active``. */
export const inForce = (kind, w) => (kind === "issued" ? w.state === "current" : w.state === "active");

/** How an area is drawn: issued ones by their state (in force red), received ones in force by severity, others
 * grey; a drill's outline dashed. */
export function areaStyle(kind, w) {
  const colour = kind === "issued" ? (ISSUED_COLOURS[w.state] || GREY)
    : (w.state === "active" ? (SEVERITY_COLOURS[w.severity] || SEVERITY_COLOURS.Unknown) : GREY);
  const live = inForce(kind, w);
  return { color: colour, weight: 2, opacity: live ? 0.9 : 0.6, fillColor: colour, fillOpacity: live ? 0.22 : 0.06,
    dashArray: isDrill(w) ? "6 4" : null };
}

/** The state of an issued (``kind`` issued) or received warning as a badge. */
export function capStateBadge(kind, state) {
  const b = el("span", `state-badge cap-state cap-${state}`, capWord(`${kind}_state`, state));
  b.dataset.state = state;
  return b;
}

/** The severity as a badge in its colour. */
export function severityBadge(severity) {
  const b = el("span", `sev sev-${String(severity || "Unknown").toLowerCase()}`, capWord("severity", severity || "Unknown"));
  b.dataset.severity = severity || "";
  return b;
}

/** A status other than Actual as a mark: 演练 for Exercise (the drill mark), the word for Test, System, Draft. */
export function statusMark(status) {
  if (!status || status === "Actual") return null;
  const b = el("span", status === "Exercise" ? "drill" : "cap-status", capWord("status", status));
  if (status === "Exercise") b.dataset.testid = "drill";
  b.dataset.status = status;
  return b;
}
