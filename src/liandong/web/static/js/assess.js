// Shared by the assessment page and the annual report: numbers in the page language, rates as percentages (无数据
// when there is none), indicator names, and the grade badge in the grade's configured colour.

import { LABELS, el, percent, t } from "./common.js";

const locale = LABELS.lang === "en" ? "en-GB" : "zh-CN";

export const number = (x, digits = 2) => Number(x).toLocaleString(locale, { maximumFractionDigits: digits });
export const noData = () => t("as.no_data");
/** A count (or a figure such as 千人立案数) or a rate as shown; None is 无数据 / No data. */
export const figureText = (x, isRate) => (x === null || x === undefined ? noData() : isRate ? percent(x) : number(x, 3));

/** An indicator's name in the page language; else the API's own (Chinese) from `apiLabels`. */
export function indicatorName(key, apiLabels = {}) {
  const text = t(`as.ind.${key}`);
  return text === `as.ind.${key}` ? apiLabels[key] || key : text;
}

/** Dark or white text, whichever reads better on the colour (#rrggbb). */
function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.3 ? "#1b1f24" : "#ffffff";
}

/** A grade (A–E) as a badge in its colour. */
export function gradeBadge(grade, colour) {
  const b = el("span", "grade-badge", grade);
  b.dataset.grade = grade;
  b.dataset.colour = colour;
  // colours are configuration (settings.yaml): set through the CSSOM, which the page's CSP allows
  b.style.backgroundColor = colour;
  b.style.color = inkOn(colour);
  return b;
}
