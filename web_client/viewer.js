// viewer.js: the live strip viewer for one recording: wires an EcgSocket to
// the EcgChart, shows heart rate, connection state and notices, and holds the
// display settings (lead set, px-per-mm calibration, baseline filter).

import { listRecordings, Unauthorized } from "./api.js";
import { DEFAULT_PX_PER_MM, EcgChart } from "./ecg_chart.js";
import { EcgSocket } from "./ecg_socket.js";
import { statusText } from "./format.js";
import { FrameError, samplesInt32 } from "./frames.js";
import { t } from "./i18n.js";

export const MAX_FS_HZ = 250;
export const BACKLOG_S = 10;
const HR_BEATS = 9; // beats kept for the fallback heart rate (8 RR intervals)
const HR_STALE_S = 5; // no fallback heart rate when the newest beat is older than this
const PX_KEY = "teleconsult.pxPerMm";
const FILTER_KEY = "teleconsult.baselineFilter";
const PX_RANGE = [1, 30];

const LEAD_GROUPS = [
  ["leads_limb", ["I", "II", "III", "aVR", "aVL", "aVF"]],
  ["leads_chest", ["V1", "V2", "V3", "V4", "V5", "V6"]],
  ["leads_extra", ["V7", "V8", "V9", "V3R", "V4R", "V5R"]],
];

const $ = (id) => document.getElementById(id);

function loadNumber(key, fallback, [lo, hi]) {
  try {
    const raw = localStorage.getItem(key);
    const v = Number(raw);
    if (raw !== null && Number.isFinite(v) && v >= lo && v <= hi) return v;
  } catch {
    // no localStorage
  }
  return fallback;
}

function save(key, value) {
  try {
    localStorage.setItem(key, String(value));
  } catch {
    // not remembered
  }
}

/**
 * Heart rate to show: the server's hr_bpm; when it sends nil (beats replayed
 * from the archive on joining carry none) the median RR of the latest beats,
 * as long as the newest beat is recent. Null when there is none.
 */
export function heartRate({ hr, beatsSrc, newestSrc, fsHz }) {
  if (hr != null && Number.isFinite(hr) && hr > 0) return hr;
  const b = beatsSrc;
  if (!(fsHz > 0) || b.length < 3 || newestSrc - b[b.length - 1] > HR_STALE_S * fsHz) return null;
  const rr = b.slice(1).map((x, k) => x - b[k]).sort((p, q) => p - q);
  const median = rr[Math.floor(rr.length / 2)];
  return median > 0 ? (60 * fsHz) / median : null;
}

/** Lead-set choices for these lead names: [value, i18n key or null, lead indices]. */
export function leadSets(leads) {
  const options = [["all", "leads_all", leads.map((_, k) => k)]];
  for (const [key, names] of LEAD_GROUPS) {
    const wanted = names.map((n) => n.toLowerCase()); // PTB-XL spells AVR, AVL, AVF
    const idx = leads.map((l, k) => (wanted.includes(l.toLowerCase()) ? k : -1)).filter((k) => k >= 0);
    if (idx.length > 1 && idx.length < leads.length) options.push([key, key, idx]);
  }
  if (leads.length > 1) leads.forEach((name, k) => options.push([`lead:${name}`, null, [k]]));
  return options;
}

export class LiveViewer {
  /** onUnauthorized(): the session is gone (the page shows the login). */
  constructor({ onUnauthorized }) {
    this.onUnauthorized = onUnauthorized;
    this.chart = new EcgChart($("ecg"), {
      pxPerMm: loadNumber(PX_KEY, DEFAULT_PX_PER_MM, PX_RANGE),
      baselineFilter: loadNumber(FILTER_KEY, 1, [0, 1]) === 1,
    });
    this.v = null; // the open recording's state
    this.wireSettings();
    let width = 0;
    new ResizeObserver(([entry]) => {
      // Only a new width changes the sweep; the height follows the canvas itself.
      if (Math.round(entry.contentRect.width) === width) return;
      width = Math.round(entry.contentRect.width);
      this.chart.layout();
    }).observe($("chart-wrap"));
  }

  open(id) {
    this.close();
    const c = this.chart;
    c.meta = null;
    c.reset();
    c.layout();
    c.start();
    const v = {
      id,
      meta: null,
      hr: null, // hr_bpm of the latest beats frame
      beatsSrc: [], // the latest beat indices (source samples)
      newestSrc: 0, // one past the newest source sample received
      dropped: 0,
      deviceConnected: null, // from "status" frames: is the village's device streaming now?
      ended: null,
      conn: { state: "connecting" },
      error: null,
      socket: null,
    };
    this.v = v;
    v.socket = new EcgSocket({
      recording: id,
      maxFsHz: MAX_FS_HZ,
      backlogS: BACKLOG_S,
      onFrame: (frame) => this.onFrame(v, frame),
      onState: (s) => this.onSocketState(v, s),
    });
    this.render();
    v.socket.start();
  }

  close() {
    if (!this.v) return;
    this.v.socket.stop();
    this.v = null;
    this.chart.stop();
  }

  onFrame(v, frame) {
    if (this.v !== v) return;
    const c = this.chart;
    switch (frame.t) {
      case "meta":
        v.meta = frame;
        c.setMeta(frame);
        this.fillLeadSets(frame.leads);
        break;
      case "samples": {
        if (!v.meta) return;
        let values;
        try {
          values = samplesInt32(frame, v.meta.leads.length);
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
          console.warn("teleconsult: dropped samples frame:", err.message);
          return;
        }
        c.pushSamples(frame.i0, Number(frame.n), values);
        v.newestSrc = Math.max(v.newestSrc, (Number(frame.i0) + Number(frame.n)) * Number(v.meta.decimation));
        return; // no text changes: keep the message handler cheap
      }
      case "beats":
        c.pushBeats(frame.i);
        v.hr = frame.hr_bpm == null ? null : Number(frame.hr_bpm);
        v.beatsSrc = [...new Set([...v.beatsSrc, ...frame.i.map(Number)])].sort((a, b) => a - b).slice(-HR_BEATS);
        break;
      case "gap":
        v.dropped += Number(frame.dropped);
        break;
      case "status":
        v.deviceConnected = frame.connected;
        break;
      case "end":
        v.ended = Number(frame.n_samples);
        break;
      case "error":
        v.error = { code: Number(frame.code), reason: frame.reason };
        break;
      default:
        return;
    }
    this.render();
  }

  async onSocketState(v, s) {
    if (this.v !== v) return;
    v.conn = s;
    if (s.state === "live") v.error = null;
    if (s.state === "closed" && s.code === 4001) {
      this.onUnauthorized();
      return;
    }
    if (s.state === "closed" && !s.ended && s.code !== 1000) v.error = { code: s.code, reason: s.reason };
    this.render();
    if (s.state === "reconnecting" && !s.opened) await this.checkUpgradeRefusal(v);
  }

  /**
   * The WebSocket upgrade failed, and browsers hide the HTTP status (401, 403
   * and 404 all look like close code 1006). Ask the HTTP API: an expired session
   * goes back to the login; a recording not in the list stops the retries.
   */
  async checkUpgradeRefusal(v) {
    try {
      const list = await listRecordings();
      if (this.v !== v || list.some((r) => String(r.id) === v.id)) return;
      v.socket.stop();
      v.conn = { state: "closed" };
      v.error = { key: "error_unavailable" };
      this.render();
    } catch (err) {
      if (err instanceof Unauthorized && this.v === v) this.onUnauthorized();
    }
  }

  /** Refresh every text of the viewer (also after a language switch). */
  render() {
    const v = this.v;
    if (!v) return;
    $("viewer-title").textContent = v.id;
    const m = v.meta;
    $("viewer-sub").textContent = m
      ? [
          t("n_leads", { n: m.leads.length }),
          `${Number(m.fs_hz)} Hz → ${Number(m.display_fs_hz)} Hz`,
          statusText(m.status),
        ].join(" · ")
      : "";
    $("ecg").setAttribute("aria-label", t("chart_label", { id: v.id }));

    const bpm = heartRate({ ...v, fsHz: m ? Number(m.fs_hz) : 0 });
    $("hr").textContent = bpm == null ? "--" : String(Math.round(bpm));

    const conn = $("conn-state");
    const s = v.conn;
    conn.classList.toggle("live", s.state === "live");
    conn.textContent =
      s.state === "live" ? t("conn_live")
      : s.state === "reconnecting" ? t("conn_reconnecting", { s: Math.ceil(s.delayMs / 1000) })
      : s.state === "closed" ? t("conn_ended")
      : t("conn_connecting");

    const gap = $("gap-notice");
    gap.hidden = v.dropped === 0;
    gap.textContent = t("gap_notice", { n: v.dropped });
    const device = $("device-notice");
    device.hidden = v.deviceConnected !== false || v.ended !== null;
    device.textContent = t("device_disconnected");
    const end = $("end-notice");
    end.hidden = v.ended === null;
    end.textContent = t("ended_notice", { n: v.ended ?? 0 });
    const err = $("error-notice");
    err.hidden = !v.error || v.ended !== null;
    err.textContent = v.error ? errorText(v.error) : "";
  }

  fillLeadSets(leads) {
    const select = $("lead-set");
    const previous = select.value;
    select.replaceChildren(
      ...leadSets(leads).map(([value, key, idx]) => {
        const o = document.createElement("option");
        o.value = value;
        o.dataset.leads = idx.join(",");
        if (key) o.dataset.i18n = key;
        o.textContent = key ? t(key) : value.slice("lead:".length);
        return o;
      }),
    );
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
    this.applyLeadSet();
  }

  applyLeadSet() {
    const o = $("lead-set").selectedOptions[0];
    if (o) this.chart.setVisibleLeads(o.dataset.leads.split(",").map(Number));
  }

  setPxPerMm(value) {
    $("px-per-mm").value = value.toFixed(2);
    $("ruler").style.width = `${100 * value}px`;
    save(PX_KEY, value);
    this.chart.setPxPerMm(value);
  }

  wireSettings() {
    $("lead-set").addEventListener("change", () => this.applyLeadSet());
    const px = $("px-per-mm");
    px.value = this.chart.pxPerMm.toFixed(2);
    $("ruler").style.width = `${100 * this.chart.pxPerMm}px`;
    px.addEventListener("change", () => {
      const value = Number(px.value);
      if (Number.isFinite(value) && value >= PX_RANGE[0] && value <= PX_RANGE[1]) this.setPxPerMm(value);
      else px.value = this.chart.pxPerMm.toFixed(2);
    });
    $("px-reset").addEventListener("click", () => this.setPxPerMm(DEFAULT_PX_PER_MM));
    const filter = $("baseline-filter");
    filter.checked = this.chart.baselineFilter;
    filter.addEventListener("change", () => {
      save(FILTER_KEY, filter.checked ? 1 : 0);
      this.chart.setBaselineFilter(filter.checked);
    });
  }
}

function errorText(err) {
  if (err.key) return t(err.key);
  if (err.code === 4003) return t("error_forbidden");
  if (err.code === 4004) return t("error_not_found");
  if (err.code === 4001) return t("error_session");
  return t("error_generic", { code: err.code, reason: err.reason || "" });
}
