// reading_format.js: display helpers for studies and reports (priority badges,
// waiting times against the target, arrival flags, statements, measurements).

import { getLang, has, t } from "./i18n.js";

export const PRIORITIES = Object.freeze(["stat", "urgent", "routine"]);
export const MEASUREMENT_KEYS = Object.freeze([
  "heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "axis_deg",
]);

/** Seconds as m:ss (h:mm:ss past an hour); "" for null. */
export function formatSeconds(s) {
  if (s == null || !Number.isFinite(Number(s))) return "";
  const v = Math.max(0, Math.round(Number(s)));
  const h = Math.floor(v / 3600);
  const m = Math.floor((v % 3600) / 60);
  const sec = String(v % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** "等待 2:05 / 3:00" for a study (its waiting_s, plus `extraS` since it was fetched). */
export function waitingText(study, extraS = 0) {
  const end = study.signed_at != null ? 0 : extraS;
  return t(study.signed_at != null ? "tat_value" : "waiting_value", {
    waiting: formatSeconds(Number(study.waiting_s) + end), target: formatSeconds(study.target_s),
  });
}

export function priorityText(p) {
  return has(`prio_${p}`) ? t(`prio_${p}`) : String(p);
}

export function priorityBadge(p) {
  const span = document.createElement("span");
  span.className = `prio prio-${p}`;
  span.textContent = priorityText(p);
  return span;
}

/** An arrival flag with its reason, in the UI language. */
export function flagText(flag) {
  const f = String(flag);
  if (f.startsWith("import:")) return t("flag_import", { code: f.slice(7) });
  return has(`flag_${f}`) ? t(`flag_${f}`) : f;
}

/** A statement's label in the UI language, with the other one beside it. */
export function statementLabel(s) {
  if (!s) return "";
  const zh = s.zh || "";
  const en = s.en || s.description || s.code;
  if (getLang() === "zh-CN") return zh ? `${zh} ${en}` : en;
  return zh ? `${en} ${zh}` : en;
}

export function measurementLabel(key) {
  return has(`m_${key}`) ? t(`m_${key}`) : key;
}

/** "72 次/分" etc.; unknown keys as number only. */
export function measurementValue(key, value) {
  const v = Number(value);
  if (!Number.isFinite(v)) return "";
  const unit = key.endsWith("_ms") ? " ms" : key.endsWith("_bpm") ? ` ${t("bpm")}` : key.endsWith("_deg") ? "°" : "";
  return `${Math.round(v * 10) / 10}${unit}`;
}

/** Who holds a study's lock: the reader's name (or "#id" when the name is unknown). */
export function readerName(study) {
  if (study?.claimed_by == null) return "";
  return study.claimed_by_name || `#${study.claimed_by}`;
}
