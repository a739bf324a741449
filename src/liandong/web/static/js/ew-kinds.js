// How an early warning names the kinds of its reports, on the page and on the command centre's panel: a case's
// matter by its catalogue name and code, a hazard's sector (hazard:<sector>, early_warning_input.kind) and a
// dispute's type (dispute:<type>) in the page language.

import { t } from "./common.js";

export function kindText(code, name) {
  const [source, value] = code.split(":", 2);
  if (source === "hazard" && value) return t("ew.kind.hazard", { kind: t(`hz.sector.${value}`) });
  if (source === "dispute" && value) return t("ew.kind.dispute", { kind: t(`md.type.${value}`) });
  return name ? `${name}（${code}）` : code;
}

export const matterText = (w) => (w.matters || []).map((m) => kindText(m.code, m.name)).join("、")
  || w.matter_codes.map((c) => kindText(c)).join("、");
