// Shared by the emergency pages (incident list, board, plans, the dashboard's incident panel): the words for
// incident states, categories and the three levels, in the page language, and the badges that show them.

import { LABELS, el, t } from "./common.js";

const pick = (table, key) => (LABELS[table] && LABELS[table][String(key)]) || (key === null || key === undefined ? "" : String(key));
export const incidentState = (s) => pick("incident_states", s);
export const category = (c) => pick("categories", c);
export const incidentAction = (a) => pick("incident_actions", a);
export const taskState = (s) => pick("task_states", s);
export const taskAction = (a) => pick("task_actions", a);
export const logKind = (k) => pick("log_kinds", k);
export const lineName = (l) => pick("lines", l);
export const ROMAN = { 1: "Ⅰ", 2: "Ⅱ", 3: "Ⅲ", 4: "Ⅳ" };
export const WARNING_COLOURS = { 1: "red", 2: "orange", 3: "yellow", 4: "blue" };

/** The grade (Ⅰ–Ⅳ), the warning level (a colour) and the response level (一级–四级) as three badges. */
export function levelBadges(i) {
  const box = el("span", "levels");
  const grade = el("span", `lv lv-grade lv-${i.grade}`, ROMAN[i.grade] || "?");
  grade.title = `${t("inc.grade")}: ${pick("grades", i.grade)}`;
  grade.dataset.grade = String(i.grade);
  box.append(grade);
  if (i.warning_level) {
    const w = el("span", `lv lv-warning warn-${WARNING_COLOURS[i.warning_level]}`, pick("warnings", i.warning_level));
    w.title = t("inc.warning_level");
    w.dataset.warning = String(i.warning_level);
    box.append(w);
  }
  if (i.response_level) {
    const r = el("span", "lv lv-response", pick("responses", i.response_level));
    r.title = t("inc.response_level");
    r.dataset.response = String(i.response_level);
    box.append(r);
  }
  return box;
}

export const gradeText = (g) => pick("grades", g);
export const warningText = (w) => (w ? pick("warnings", w) : t("inc.none_level"));
export const responseText = (r) => (r ? pick("responses", r) : t("inc.none_level"));

/** The drill mark (演练). */
export function drillBadge() {
  const b = el("span", "drill", t("inc.exercise"));
  b.dataset.testid = "drill";
  return b;
}

/** The state as a badge. */
export function stateBadge(state) {
  const b = el("span", `state-badge inc-state inc-${state}`, incidentState(state));
  b.dataset.state = state;
  return b;
}

/** Minutes as people read them: "45 分钟", "3 小时 5 分". */
export function duration(minutes) {
  if (minutes === null || minutes === undefined) return "";
  const m = Math.round(minutes);
  if (Math.abs(m) < 60) return t("inc.minutes", { n: m });
  return t("inc.hours", { h: Math.trunc(m / 60), m: Math.abs(m % 60) });
}

/** A unit selector of a plan file (`centre`, `{line: fire}`, `{line: fire, in: affected_towns}`) in words. */
export function selectorText(sel) {
  if (typeof sel === "string") return t(`sel.${sel}`);
  if (sel && sel.line) return t(sel.in ? "sel.line_in" : "sel.line", { line: lineName(sel.line) });
  return JSON.stringify(sel);
}
