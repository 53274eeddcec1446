// study_chart.js: a whole ECG (a study) on a <canvas>, drawn like paper at true
// scale: 25 or 50 mm/s, 5, 10 or 20 mm/mV at the calibrated CSS pixels per
// millimetre (the live chart's calibration, ecg_chart.js), 1 mm / 5 mm grid,
// a 1 mV calibration pulse at the start of each row. No network code.
//
// Layouts: "12" = the standard 3 × 4 (2.5 s per column) plus a 10 s lead II
// rhythm strip; "18" = 6 × 3 (limb, V1–V6, V7–V9 V3R–V5R) plus rhythm strip;
// "rows" = every lead on its own row; "lead:<k>" = one lead, wrapped over
// several rows (the one-lead zoom).
//
//   const chart = new StudyChart(canvas, { pxPerMm });
//   chart.setSignal({ fsHz, leads, mv: [Float32Array per lead] });
//   chart.setBeats([{ sample, label }]); chart.setLayout("12"); chart.render();
//   chart.hit(xCss, yCss) -> { lead, sample } | null
//
// The canvas carries read-only counters for tests: data-layout, data-panels,
// data-beats-drawn, data-speed, data-gain, data-px-per-mm.

import { CALIBRATION_MV, CALIBRATION_S, COLORS as PAPER_COLORS, DEFAULT_PX_PER_MM, paintPaper } from "./ecg_chart.js";
import { filterSignal } from "./display_filters.js";

export const SPEEDS_MM_PER_S = Object.freeze([25, 50]);
export const GAINS_MM_PER_MV = Object.freeze([5, 10, 20]);
export const STANDARD_12 = Object.freeze(["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]);
export const EXTRA_6 = Object.freeze(["V7", "V8", "V9", "V3R", "V4R", "V5R"]);
export const SHEET_S = 10; // the 12-lead sheet: 10 s

const MARGIN_MM = 10; // left margin: calibration pulse
const TOP_MM = 4;
const LABEL_MM = 5; // room above a labelled strip for beat labels
const MAX_ZOOM_ROWS = 6;

const COLORS = Object.freeze({
  ...PAPER_COLORS,
  beatOther: "#c4201a",
  segment: "rgba(240, 165, 0, 0.22)",
  segmentInk: "#8a5a00",
  caliper: "#0b7a3a",
  selected: "#c4201a",
});

/** Index of each wanted lead name in `leads` (case-insensitive: PTB-XL spells AVR), -1 when absent. */
export function leadIndex(leads, name) {
  const want = name.toLowerCase();
  return leads.findIndex((l) => String(l).toLowerCase() === want);
}

/** Layouts that make sense for these leads: ["12", "18", "rows", "lead:0", …]. */
export function layoutsFor(leads) {
  const out = [];
  const has12 = STANDARD_12.every((n) => leadIndex(leads, n) >= 0);
  if (has12) out.push("12");
  if (has12 && EXTRA_6.every((n) => leadIndex(leads, n) >= 0)) out.push("18");
  out.push("rows");
  leads.forEach((_, k) => out.push(`lead:${k}`));
  return out;
}

/** Interval between two x positions (CSS px) at a paper speed: {ms, bpm}. */
export function caliperInterval(dxCss, pxPerMm, speedMmPerS) {
  const ms = (Math.abs(dxCss) / pxPerMm / speedMmPerS) * 1000;
  return { ms, bpm: ms > 0 ? 60000 / ms : null };
}

/** The median of x[lo…hi) (of at most ~400 evenly spaced samples): a strip's level. */
export function panelLevel(x, lo, hi) {
  const step = Math.max(1, Math.floor((hi - lo) / 400));
  const v = [];
  for (let i = lo; i < hi; i += step) v.push(x[i]);
  if (!v.length) return 0;
  v.sort((a, b) => a - b);
  return v[v.length >> 1];
}

export class StudyChart {
  constructor(canvas, { pxPerMm = DEFAULT_PX_PER_MM } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.pxPerMm = pxPerMm;
    this.speed = 25;
    this.gain = 10;
    this.mode = "rows";
    this.t0 = 0; // seconds: the start of what is shown
    this.signal = null; // {fsHz, leads, raw: Float32Array[], n}
    this.shown = []; // filtered copies drawn
    this.filters = { baseline: false, mains: false, muscle: false };
    this.beats = []; // [{sample, label, source}] sorted
    this.segments = []; // [{id, start, end, label}]
    this.selected = null; // a beat sample
    this.caliper = null; // {x1, x2, y} CSS px
    this.span = null; // {x1, x2} CSS px: a segment being marked
    this.panels = [];
    this.containerWidth = 800;
  }

  // ---- data --------------------------------------------------------------------

  setSignal({ fsHz, leads, mv }) {
    const n = mv.length ? mv[0].length : 0;
    const fresh = !this.signal || this.signal.leads.join() !== leads.join();
    this.signal = { fsHz: Number(fsHz), leads: leads.slice(), raw: mv, n };
    if (fresh || !layoutsFor(leads).includes(this.mode)) this.mode = layoutsFor(leads)[0];
    this.applyFilters();
  }

  setFilters(filters) {
    this.filters = { ...this.filters, ...filters };
    this.applyFilters();
  }

  applyFilters() {
    const s = this.signal;
    if (!s) return;
    this.shown = s.raw.map((x) => filterSignal(x, s.fsHz, this.filters));
  }

  setBeats(beats) {
    this.beats = beats.map((b) => ({ ...b, sample: Number(b.sample) })).sort((p, q) => p.sample - q.sample);
  }

  setSegments(segments) {
    this.segments = segments.slice();
  }

  // ---- settings ------------------------------------------------------------------

  setLayout(mode) {
    this.mode = mode;
  }

  setSpeed(mmPerS) {
    this.speed = mmPerS;
  }

  setGain(mmPerMv) {
    this.gain = mmPerMv;
  }

  setPxPerMm(pxPerMm) {
    this.pxPerMm = pxPerMm;
  }

  /** Seconds of signal the current layout shows. */
  windowS() {
    const s = this.signal;
    if (!s) return 0;
    if (this.mode === "12" || this.mode === "18") return SHEET_S;
    const rowS = (this.containerWidthMm() - MARGIN_MM - 2) / this.speed;
    return this.mode.startsWith("lead:") ? rowS * MAX_ZOOM_ROWS : rowS;
  }

  durationS() {
    return this.signal ? this.signal.n / this.signal.fsHz : 0;
  }

  /** Move the start to `t0` seconds (clamped to the recording). */
  setStart(t0) {
    const max = Math.max(0, this.durationS() - Math.min(this.windowS(), this.durationS()));
    this.t0 = Math.min(Math.max(0, t0), max);
  }

  containerWidthMm() {
    return this.containerWidth / this.pxPerMm;
  }

  rowMm() {
    return Math.max(15, Math.ceil((this.gain * 2.5) / 5) * 5);
  }

  // ---- geometry --------------------------------------------------------------------

  /** Compute the panels: {lead, xMm, wMm, topMm, hMm, baseMm, s0, s1, strip}. */
  computePanels() {
    const s = this.signal;
    const panels = [];
    if (!s) return { panels, widthMm: this.containerWidthMm(), heightMm: 40 };
    const fs = s.fsHz;
    const v = this.speed;
    const rowMm = this.rowMm();
    const start = Math.round(this.t0 * fs);
    let y = TOP_MM;
    let widthMm = this.containerWidthMm();
    const row = (items, strip) => {
      const top = y + (strip ? LABEL_MM : 0);
      for (const it of items) {
        panels.push({ ...it, topMm: top, hMm: rowMm, baseMm: top + rowMm * 0.6, strip });
      }
      y = top + rowMm;
    };
    if (this.mode === "12" || this.mode === "18") {
      const columns = this.mode === "12"
        ? [STANDARD_12.slice(0, 3), STANDARD_12.slice(3, 6), STANDARD_12.slice(6, 9), STANDARD_12.slice(9, 12)]
        : [STANDARD_12.slice(0, 6), STANDARD_12.slice(6, 12), EXTRA_6.slice()];
      const colS = SHEET_S / columns.length;
      const nRows = columns[0].length;
      for (let r = 0; r < nRows; r++) {
        row(columns.map((names, c) => ({
          lead: leadIndex(s.leads, names[r]),
          xMm: MARGIN_MM + c * colS * v,
          wMm: colS * v,
          s0: start + Math.round(c * colS * fs),
          s1: start + Math.round((c + 1) * colS * fs),
          sep: c > 0,
        })), false);
      }
      const rhythm = leadIndex(s.leads, "II");
      row([{ lead: rhythm, xMm: MARGIN_MM, wMm: SHEET_S * v, s0: start, s1: start + SHEET_S * fs, sep: false }], true);
      widthMm = Math.max(widthMm, MARGIN_MM + SHEET_S * v + 2);
    } else if (this.mode.startsWith("lead:")) {
      const lead = Number(this.mode.slice(5));
      const rowS = (widthMm - MARGIN_MM - 2) / v;
      for (let r = 0; r < MAX_ZOOM_ROWS; r++) {
        const s0 = start + Math.round(r * rowS * fs);
        if (s0 >= s.n) break;
        row([{ lead, xMm: MARGIN_MM, wMm: rowS * v, s0, s1: s0 + Math.round(rowS * fs), sep: false }], true);
      }
    } else {
      const rowS = (widthMm - MARGIN_MM - 2) / v;
      s.leads.forEach((_, lead) => {
        row([{ lead, xMm: MARGIN_MM, wMm: rowS * v, s0: start, s1: start + Math.round(rowS * fs), sep: false }],
          lead === 0);
      });
    }
    return { panels, widthMm, heightMm: y + 3 };
  }

  /** The panel and sample under a CSS point of the canvas, or null. */
  hit(xCss, yCss) {
    const xMm = xCss / this.pxPerMm;
    const yMm = yCss / this.pxPerMm;
    const s = this.signal;
    if (!s) return null;
    for (const p of this.panels) {
      const top = p.strip ? p.topMm - LABEL_MM : p.topMm;
      if (xMm >= p.xMm && xMm < p.xMm + p.wMm && yMm >= top && yMm < p.topMm + p.hMm) {
        const sample = Math.round(p.s0 + ((xMm - p.xMm) / this.speed) * s.fsHz);
        return { panel: p, lead: p.lead, sample: Math.min(Math.max(0, sample), s.n - 1) };
      }
    }
    return null;
  }

  /** The beat nearest to `sample` within `maxS` seconds, or null. */
  nearestBeat(sample, maxS = 0.15) {
    if (!this.signal) return null;
    let best = null;
    for (const b of this.beats) {
      const d = Math.abs(b.sample - sample);
      if (d <= maxS * this.signal.fsHz && (!best || d < Math.abs(best.sample - sample))) best = b;
    }
    return best;
  }

  /** CSS x of a sample within a panel. */
  xOf(panel, sample) {
    return (panel.xMm + ((sample - panel.s0) / this.signal.fsHz) * this.speed) * this.pxPerMm;
  }

  // ---- drawing -----------------------------------------------------------------------

  render() {
    const { panels, widthMm, heightMm } = this.computePanels();
    this.panels = panels;
    const dpr = window.devicePixelRatio || 1;
    const cssW = Math.round(widthMm * this.pxPerMm);
    const cssH = Math.round(heightMm * this.pxPerMm);
    this.canvas.style.width = `${cssW}px`;
    this.canvas.style.height = `${cssH}px`;
    if (this.canvas.width !== Math.round(cssW * dpr)) this.canvas.width = Math.round(cssW * dpr);
    if (this.canvas.height !== Math.round(cssH * dpr)) this.canvas.height = Math.round(cssH * dpr);
    const g = this.ctx;
    const mm = this.pxPerMm * dpr;
    this.drawGrid(g, mm, dpr);
    let beatsDrawn = 0;
    if (this.signal) {
      this.drawSegments(g, mm);
      this.drawPulses(g, mm, dpr);
      for (const p of panels) this.drawPanel(g, p, mm, dpr);
      beatsDrawn = this.drawBeats(g, mm);
      this.drawSelection(g, mm, dpr);
    }
    this.drawCaliper(g, dpr);
    const ds = this.canvas.dataset;
    Object.assign(ds, {
      layout: this.mode, panels: String(panels.length), beatsDrawn: String(beatsDrawn),
      speed: String(this.speed), gain: String(this.gain), pxPerMm: String(this.pxPerMm),
    });
  }

  drawGrid(g, mm, dpr) {
    paintPaper(g, this.canvas.width, this.canvas.height, mm, dpr);
  }

  drawPulses(g, mm, dpr) {
    const rows = [...new Set(this.panels.map((p) => p.baseMm))];
    const w = CALIBRATION_S * this.speed * mm;
    const h = CALIBRATION_MV * this.gain * mm;
    g.strokeStyle = COLORS.trace;
    g.lineWidth = 1.3 * dpr;
    g.beginPath();
    for (const base of rows) {
      const y = base * mm;
      const xb = 2 * mm;
      g.moveTo(0.5 * mm, y);
      g.lineTo(xb, y);
      g.lineTo(xb, y - h);
      g.lineTo(xb + w, y - h);
      g.lineTo(xb + w, y);
      g.lineTo(Math.max(xb + w, MARGIN_MM * mm), y);
    }
    g.stroke();
  }

  drawPanel(g, p, mm, dpr) {
    const s = this.signal;
    g.fillStyle = COLORS.label;
    g.font = `bold ${Math.round(3 * mm)}px system-ui, sans-serif`;
    g.textBaseline = "top";
    const name = p.lead >= 0 ? String(s.leads[p.lead]) : "—";
    g.fillText(name, p.xMm * mm + 1 * mm, p.topMm * mm + 0.5 * mm);
    if (p.sep) {
      g.fillStyle = COLORS.trace;
      g.fillRect(Math.round(p.xMm * mm), Math.round((p.baseMm - 3) * mm), Math.max(1, Math.round(dpr)), 6 * mm);
    }
    if (p.lead < 0) return;
    const x = this.shown[p.lead];
    const s1 = Math.min(p.s1, s.n);
    if (p.s0 >= s1) return;
    const pxPerSample = (this.speed * mm) / s.fsHz;
    const scale = this.gain * mm;
    // Each strip sits on its own median: ADC offsets (MIT-BIH's 1024) and wander
    // between strips do not push the trace off its row; amplitudes are unchanged.
    const base = p.baseMm * mm + panelLevel(x, p.s0, s1) * scale;
    const x0 = p.xMm * mm;
    g.save();
    g.beginPath();
    g.rect(x0, (p.topMm - (p.strip ? LABEL_MM : 0)) * mm, p.wMm * mm, (p.hMm + (p.strip ? LABEL_MM : 0)) * mm);
    g.clip();
    g.strokeStyle = COLORS.trace;
    g.lineWidth = 1.2 * dpr;
    g.lineJoin = "round";
    g.beginPath();
    // Many samples per device pixel: draw each pixel column's min–max (no aliasing).
    const step = pxPerSample < 0.5 ? Math.floor(1 / pxPerSample) : 1;
    for (let i = p.s0, first = true; i < s1; i += step) {
      if (step === 1) {
        const px = x0 + (i - p.s0) * pxPerSample;
        const py = base - x[i] * scale;
        if (first) g.moveTo(px, py);
        else g.lineTo(px, py);
      } else {
        let lo = Infinity;
        let hi = -Infinity;
        for (let k = i; k < Math.min(i + step, s1); k++) {
          lo = Math.min(lo, x[k]);
          hi = Math.max(hi, x[k]);
        }
        const px = x0 + (i - p.s0) * pxPerSample;
        if (first) g.moveTo(px, base - hi * scale);
        else g.lineTo(px, base - hi * scale);
        g.lineTo(px, base - lo * scale);
      }
      first = false;
    }
    g.stroke();
    g.restore();
  }

  drawBeats(g, mm) {
    let drawn = 0;
    g.textBaseline = "bottom";
    g.textAlign = "center";
    for (const p of this.panels) {
      if (p.lead < 0) continue;
      const top = p.topMm * mm;
      for (const b of this.beats) {
        if (b.sample < p.s0 || b.sample >= p.s1) continue;
        const x = this.xOf(p, b.sample) * (mm / this.pxPerMm);
        const other = b.label !== "N";
        g.fillStyle = other ? COLORS.beatOther : COLORS.beat;
        g.beginPath();
        g.moveTo(x - 0.9 * mm, top + 0.2 * mm);
        g.lineTo(x + 0.9 * mm, top + 0.2 * mm);
        g.lineTo(x, top + 1.6 * mm);
        g.closePath();
        g.fill();
        if (p.strip) {
          g.font = `${other ? "bold " : ""}${Math.round(3 * mm)}px system-ui, sans-serif`;
          g.fillText(b.label, x, top - 0.3 * mm);
          drawn += 1;
        }
      }
    }
    g.textAlign = "start";
    return drawn;
  }

  drawSegments(g, mm) {
    for (const p of this.panels) {
      if (!p.strip) continue;
      for (const seg of this.segments) {
        const a = Math.max(seg.start, p.s0);
        const b = Math.min(seg.end, p.s1);
        if (b <= a) continue;
        const xa = this.xOf(p, a) * (mm / this.pxPerMm);
        const xb = this.xOf(p, b) * (mm / this.pxPerMm);
        g.fillStyle = COLORS.segment;
        g.fillRect(xa, p.topMm * mm, xb - xa, p.hMm * mm);
        g.fillStyle = COLORS.segmentInk;
        g.font = `${Math.round(2.8 * mm)}px system-ui, sans-serif`;
        g.textBaseline = "bottom";
        g.fillText(seg.text ?? seg.label, xa + 0.5 * mm, (p.topMm + p.hMm) * mm - 0.3 * mm);
      }
    }
    if (this.span) {
      const [x1, x2] = [this.span.x1, this.span.x2].map((x) => x * (mm / this.pxPerMm));
      g.fillStyle = COLORS.segment;
      g.fillRect(Math.min(x1, x2), 0, Math.abs(x2 - x1), this.canvas.height);
    }
  }

  drawSelection(g, mm, dpr) {
    if (this.selected == null) return;
    g.strokeStyle = COLORS.selected;
    g.lineWidth = 1.5 * dpr;
    g.setLineDash([4 * dpr, 3 * dpr]);
    g.beginPath();
    for (const p of this.panels) {
      if (this.selected < p.s0 || this.selected >= p.s1) continue;
      const x = this.xOf(p, this.selected) * (mm / this.pxPerMm);
      g.moveTo(x, p.topMm * mm);
      g.lineTo(x, (p.topMm + p.hMm) * mm);
    }
    g.stroke();
    g.setLineDash([]);
  }

  drawCaliper(g, dpr) {
    const c = this.caliper;
    if (!c) return;
    const k = dpr;
    const [x1, x2, y] = [c.x1 * k, c.x2 * k, c.y * k];
    g.strokeStyle = COLORS.caliper;
    g.lineWidth = 1.5 * dpr;
    g.beginPath();
    g.moveTo(x1, 0);
    g.lineTo(x1, this.canvas.height);
    g.moveTo(x2, 0);
    g.lineTo(x2, this.canvas.height);
    g.moveTo(x1, y);
    g.lineTo(x2, y);
    g.stroke();
    if (c.text) {
      g.font = `bold ${Math.round(13 * dpr)}px system-ui, sans-serif`;
      g.textBaseline = "bottom";
      const tw = g.measureText(c.text).width;
      const tx = Math.min(x1, x2) + Math.abs(x2 - x1) / 2 - tw / 2;
      g.fillStyle = "rgba(255, 255, 255, 0.85)";
      g.fillRect(tx - 3 * dpr, y - 17 * dpr, tw + 6 * dpr, 15 * dpr);
      g.fillStyle = COLORS.caliper;
      g.fillText(c.text, tx, y - 3 * dpr);
    }
  }
}
