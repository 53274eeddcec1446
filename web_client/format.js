// format.js: small display helpers shared by the list and the viewer.

import { getLang, has, t } from "./i18n.js";

/** A name for a value that may be a string or an object with a name. */
export function nameOf(x) {
  if (x == null) return "";
  if (typeof x !== "object") return String(x);
  return String(x.name ?? x.display_name ?? x.username ?? x.id ?? "");
}

/** Epoch seconds (or ms, or an ISO string) as local date and time. */
export function formatTime(v) {
  if (v == null || v === "") return "";
  const d = new Date(toMs(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toLocaleString(getLang(), { hour12: false });
}

export function toMs(v) {
  if (typeof v === "number") return v < 1e12 ? v * 1000 : v;
  return Date.parse(v);
}

/** n samples at fs Hz as mm:ss or h:mm:ss. */
export function formatDuration(nSamples, fsHz) {
  if (!(nSamples >= 0) || !(fsHz > 0)) return "";
  const s = Math.floor(nSamples / fsHz);
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A recording status ("live", "ended", …) in the UI language; unknown ones as sent. */
export function statusText(status) {
  const key = `status_${String(status).toLowerCase()}`;
  return has(key) ? t(key) : String(status ?? "");
}
