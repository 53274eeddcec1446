// ecg_chart.js: live ECG on a <canvas>, drawn like paper at clinical scale.
// No network code: the page feeds it meta, samples and beats.
//
// Display: leads stacked in rows; a sweep like a bedside monitor: the newest
// samples overwrite the oldest, left to right, with a small erase gap ahead
// of the pen. 25 mm/s and 10 mm/mV at the calibrated pixels per millimetre;
// 1 mm and 5 mm paper grid; a 1 mV, 200 ms calibration pulse and the lead
// name at the start of each row; a marker at each detected QRS.
//
//   const chart = new EcgChart(canvas, { pxPerMm });
//   chart.setMeta(meta); chart.pushSamples(i0, n, int32); chart.pushBeats(indices);
//   chart.start();  // requestAnimationFrame loop; chart.stop() ends it
//
// For tests the canvas carries read-only counters: data-beats-drawn (QRS
// markers in the last drawn sweep), data-beats-total (distinct beats placed),
// data-samples-drawn (samples in the last drawn sweep), data-renders (full
// repaints), data-trace-x0 (device px where the sweep area starts).

export const PAPER_SPEED_MM_PER_S = 25;
export const GAIN_MM_PER_MV = 10;
export const DEFAULT_PX_PER_MM = 96 / 25.4; // CSS px per mm at the CSS reference 96 dpi
export const CALIBRATION_MV = 1;
export const CALIBRATION_S = 0.2;

const HISTORY = 1 << 16; // display samples kept per lead (a power of two)
const MARGIN_MM = 10; // left margin holding the calibration pulse and the label
const TOP_PAD_MM = 5;
const ERASE_GAP_S = 0.2;
const MAX_LAG_S = 0.3; // the pen trails the newest sample by at most this (smooth sweep)
const BASELINE_HZ = 0.05; // diagnostic-band high-pass (AHA) for baseline wander

export const COLORS = Object.freeze({
  paper: "#fff5f3",
  minor: "#f6c2bb",
  major: "#e4766b",
  trace: "#111111",
  label: "#5a1010",
  beat: "#1646c8",
});

/** Paint ECG paper over the whole of `g`'s canvas: 1 mm minor and 5 mm major lines, `mm` px apart. */
export function paintPaper(g, width, height, mm, dpr) {
  g.fillStyle = COLORS.paper;
  g.fillRect(0, 0, width, height);
  const thin = Math.max(1, Math.round(dpr));
  const thick = Math.max(1, Math.round(1.5 * dpr));
  for (const major of [false, true]) {
    g.fillStyle = major ? COLORS.major : COLORS.minor;
    const w = major ? thick : thin;
    for (let i = 0; i * mm <= width; i++) {
      if ((i % 5 === 0) === major) g.fillRect(Math.round(i * mm - w / 2), 0, w, height);
    }
    for (let i = 0; i * mm <= height; i++) {
      if ((i % 5 === 0) === major) g.fillRect(0, Math.round(i * mm - w / 2), width, w);
    }
  }
}

export class EcgChart {
  constructor(canvas, { pxPerMm = DEFAULT_PX_PER_MM, baselineFilter = true } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.pxPerMm = pxPerMm;
    this.baselineFilter = baselineFilter;
    this.meta = null;
    this.visible = []; // lead indices shown, top to bottom
    this.raf = 0;
    this.lastTs = 0;
    this.grid = null;
    this.renders = 0;
    this.dirty = true;
    this.reset();
  }

  // ---- data in ---------------------------------------------------------------

  /** Forget all samples and beats. */
  reset() {
    const nLeads = this.meta ? this.meta.leads.length : 0;
    this.raw = Array.from({ length: nLeads }, () => new Int32Array(HISTORY));
    this.mv = Array.from({ length: nLeads }, () => new Float32Array(HISTORY));
    this.slotIndex = new Float64Array(HISTORY).fill(-1); // display index held by each slot
    this.hp = Array.from({ length: nLeads }, () => ({ x: 0, y: 0 }));
    this.received = 0; // one past the newest display index
    this.lastIndex = -1;
    this.lastFrameN = 0;
    this.penHead = 0; // display index the pen has reached (fractional)
    this.beats = []; // sorted display indices
    this.beatSeen = new Set(); // source indices
    this.beatsTotal = 0;
    this.lateBeats = []; // beats to mark that the pen has already passed
    this.drawnHead = 0; // the canvas shows display samples before this index
    this.dirty = true;
  }

  /**
   * A meta frame. Keeps the buffered signal when a reconnect announces the
   * same stream; anything else starts afresh.
   */
  setMeta(meta) {
    const same =
      this.meta &&
      this.meta.recording === meta.recording &&
      Number(this.meta.display_fs_hz) === Number(meta.display_fs_hz) &&
      Number(this.meta.decimation) === Number(meta.decimation) &&
      Number(this.meta.gain) === Number(meta.gain) &&
      this.meta.leads.join() === meta.leads.join();
    const leadsChanged = !this.meta || this.meta.leads.join() !== meta.leads.join();
    this.meta = {
      recording: meta.recording,
      display_fs_hz: meta.display_fs_hz,
      fsHz: Number(meta.display_fs_hz),
      decimation: Math.max(1, Number(meta.decimation)),
      gain: Number(meta.gain) || 1,
      leads: meta.leads.slice(),
    };
    if (!same) {
      this.reset();
      if (leadsChanged) this.visible = meta.leads.map((_, k) => k);
    }
    this.layout();
  }

  /** Display samples i0 … i0+n-1, int32 sample-major (n × leads). */
  pushSamples(i0, n, values) {
    const m = this.meta;
    if (!m) return;
    const nLeads = m.leads.length;
    i0 = Number(i0);
    const a = Math.exp((-2 * Math.PI * BASELINE_HZ) / m.fsHz);
    for (let k = 0; k < n; k++) {
      const idx = i0 + k;
      if (idx <= this.lastIndex) continue; // backlog overlap after a reconnect
      const slot = idx & (HISTORY - 1);
      const restart = this.lastIndex < 0 || idx !== this.lastIndex + 1;
      for (let lead = 0; lead < nLeads; lead++) {
        const x = values[k * nLeads + lead];
        this.raw[lead][slot] = x;
        this.mv[lead][slot] = this.filterOne(lead, x, restart, a) / m.gain;
      }
      this.slotIndex[slot] = idx;
      this.lastIndex = idx;
    }
    if (this.lastIndex + 1 > this.received) {
      if (this.received === 0 || this.lastIndex + 1 - this.received > HISTORY / 2) {
        this.penHead = Math.max(0, this.lastIndex + 1 - this.maxLagSamples());
      }
      this.received = this.lastIndex + 1;
    }
    this.lastFrameN = n;
  }

  filterOne(lead, x, restart, a) {
    if (!this.baselineFilter) return x;
    const s = this.hp[lead];
    if (restart) {
      // Start at rest: the first sample is the baseline (no step transient).
      s.x = x;
      s.y = 0;
      return 0;
    }
    s.y = x - s.x + a * s.y;
    s.x = x;
    return s.y;
  }

  /** Beat positions as SOURCE sample indices (from `beats` frames). */
  pushBeats(sourceIndices) {
    const m = this.meta;
    if (!m) return;
    let added = false;
    for (const raw of sourceIndices) {
      const src = Number(raw);
      if (this.beatSeen.has(src)) continue;
      this.beatSeen.add(src);
      const beat = Math.round(src / m.decimation);
      this.beats.push(beat);
      if (beat < this.drawnHead) this.lateBeats.push(beat);
      this.beatsTotal += 1;
      added = true;
    }
    if (added) {
      this.beats.sort((p, q) => p - q);
      const oldest = this.received - HISTORY;
      while (this.beats.length && this.beats[0] < oldest) this.beats.shift();
      if (this.beatSeen.size > 4096) this.beatSeen = new Set([...this.beatSeen].slice(-2048));
    }
  }

  // ---- settings ---------------------------------------------------------------

  /** Show these lead indices, top to bottom. */
  setVisibleLeads(indices) {
    this.visible = indices.slice();
    this.layout();
  }

  setPxPerMm(pxPerMm) {
    this.pxPerMm = pxPerMm;
    this.layout();
  }

  /** Toggle the 0.05 Hz baseline filter; re-filters the buffered signal. */
  setBaselineFilter(on) {
    this.baselineFilter = on;
    const m = this.meta;
    if (!m) return;
    const a = Math.exp((-2 * Math.PI * BASELINE_HZ) / m.fsHz);
    const first = Math.max(0, this.received - HISTORY);
    let prev = -2;
    for (let idx = first; idx < this.received; idx++) {
      const slot = idx & (HISTORY - 1);
      if (this.slotIndex[slot] !== idx) continue;
      const restart = idx !== prev + 1;
      for (let lead = 0; lead < m.leads.length; lead++) {
        this.mv[lead][slot] = this.filterOne(lead, this.raw[lead][slot], restart, a) / m.gain;
      }
      prev = idx;
    }
    this.dirty = true;
  }

  // ---- geometry -----------------------------------------------------------------

  maxLagSamples() {
    const fs = this.meta ? this.meta.fsHz : 250;
    return Math.max(MAX_LAG_S * fs, 2 * this.lastFrameN);
  }

  /** Recompute the canvas size and the static layer (grid, pulses, labels). */
  layout() {
    const dpr = window.devicePixelRatio || 1;
    const rows = Math.max(1, this.visible.length);
    const rowMm = rows <= 4 ? 25 : 20;
    const heightMm = TOP_PAD_MM + rows * rowMm;
    const cssWidth = Math.max(200, this.canvas.parentElement?.clientWidth || 800);
    const cssHeight = heightMm * this.pxPerMm;
    this.canvas.style.width = `${cssWidth}px`;
    this.canvas.style.height = `${cssHeight}px`;
    this.canvas.width = Math.round(cssWidth * dpr);
    this.canvas.height = Math.round(cssHeight * dpr);
    const mm = this.pxPerMm * dpr; // device px per mm
    this.geo = {
      dpr,
      mm,
      rowMm,
      x0: MARGIN_MM * mm,
      // baselines sit on 5 mm lines, 10 mm above the bottom of their row
      baseY: this.visible.map((_, r) => (TOP_PAD_MM + (r + 1) * rowMm - 10) * mm),
      rowTop: this.visible.map((_, r) => (TOP_PAD_MM + r * rowMm) * mm),
      pxPerSample: this.meta ? (PAPER_SPEED_MM_PER_S * mm) / this.meta.fsHz : 1,
    };
    const usable = this.canvas.width - this.geo.x0;
    this.geo.sweepN = Math.max(16, Math.min(HISTORY - 1, Math.floor(usable / this.geo.pxPerSample)));
    this.grid = this.drawStatic();
    this.dirty = true;
  }

  drawStatic() {
    const { width, height } = this.canvas;
    const layer = document.createElement("canvas");
    layer.width = width;
    layer.height = height;
    const g = layer.getContext("2d", { alpha: false });
    const { mm, dpr } = this.geo;
    paintPaper(g, width, height, mm, dpr);
    if (!this.meta) return layer;
    g.strokeStyle = COLORS.trace;
    g.lineWidth = 1.3 * dpr;
    g.lineJoin = "miter";
    g.fillStyle = COLORS.label;
    g.font = `bold ${Math.round(3.2 * mm)}px system-ui, sans-serif`;
    g.textBaseline = "alphabetic";
    const pulseW = CALIBRATION_S * PAPER_SPEED_MM_PER_S * mm;
    const pulseH = CALIBRATION_MV * GAIN_MM_PER_MV * mm;
    this.visible.forEach((lead, r) => {
      const y = this.geo.baseY[r];
      const xa = 1 * mm;
      const xb = 3 * mm;
      g.beginPath();
      g.moveTo(xa, y);
      g.lineTo(xb, y);
      g.lineTo(xb, y - pulseH);
      g.lineTo(xb + pulseW, y - pulseH);
      g.lineTo(xb + pulseW, y);
      g.lineTo(9 * mm, y);
      g.stroke();
      g.fillText(this.meta.leads[lead] ?? "?", 1 * mm, y + 5.5 * mm);
    });
    return layer;
  }

  // ---- drawing ------------------------------------------------------------------
  // A full render paints the grid layer and the whole sweep. Between full
  // renders each animation frame only repaints the columns the pen moved over
  // plus the erase gap ahead of it, like a monitor's sweep.

  start() {
    if (this.raf) return;
    const tick = (ts) => {
      this.raf = requestAnimationFrame(tick);
      this.frame(ts);
    };
    this.lastTs = 0;
    this.raf = requestAnimationFrame(tick);
  }

  stop() {
    cancelAnimationFrame(this.raf);
    this.raf = 0;
  }

  frame(ts) {
    const dt = this.lastTs ? Math.min(ts - this.lastTs, 1000) : 0;
    this.lastTs = ts;
    if (this.meta && this.received > 0) {
      const next = Math.max(this.penHead + (this.meta.fsHz * dt) / 1000, this.received - this.maxLagSamples());
      this.penHead = Math.min(this.received, next);
    }
    const head = Math.floor(this.penHead);
    if (this.dirty || !this.grid) {
      this.dirty = false;
      this.renderAll(head);
    } else if (head > this.drawnHead) {
      this.renderSweep(this.drawnHead, head);
    } else if (this.lateBeats.length) {
      this.renderLateBeats();
    } else {
      return;
    }
    this.publishCounters();
  }

  /** Geometry of the sweep for the current pen position. */
  window(head) {
    const gapN = Math.ceil(ERASE_GAP_S * (this.meta ? this.meta.fsHz : 250));
    return { gapN, first: Math.max(0, head - this.geo.sweepN + gapN) };
  }

  lineWidth() {
    return 1.3 * this.geo.dpr;
  }

  colX(idx) {
    return this.geo.x0 + (idx % this.geo.sweepN) * this.geo.pxPerSample;
  }

  renderAll(head) {
    if (!this.grid) this.layout();
    const ctx = this.ctx;
    ctx.drawImage(this.grid, 0, 0);
    this.lateBeats = [];
    this.drawnHead = head;
    this.renders += 1;
    if (!this.meta || this.received === 0) return;
    const { first } = this.window(head);
    ctx.save();
    ctx.beginPath();
    ctx.rect(this.geo.x0, 0, this.canvas.width - this.geo.x0, this.canvas.height);
    ctx.clip();
    this.strokeTraces(first, head);
    this.fillMarkers(first, head, first, head);
    ctx.restore();
  }

  /** Repaint the columns of samples from…head-1 and the erase gap ahead. */
  renderSweep(from, head) {
    const { gapN, first } = this.window(head);
    if (head + gapN - from >= this.geo.sweepN - 1) {
      this.renderAll(head);
      return;
    }
    const { x0, sweepN, pxPerSample } = this.geo;
    const lw = this.lineWidth();
    // The strip starts a line width left of the last drawn point, whose line join
    // the previous strip could not draw yet; the path starts far enough back that
    // every segment touching the strip is stroked again in one piece.
    const start = Math.max(from - 1, first);
    const pathStart = Math.max(first, start - Math.ceil((2 * lw) / pxPerSample) - 1);
    const a = start % sweepN;
    const b = (head + gapN) % sweepN;
    const xa = Math.max(Math.floor(x0), Math.floor(this.colX(start) - lw));
    const xb = Math.ceil(this.colX(head + gapN));
    const ranges = a < b ? [[xa, xb]] : [[xa, this.canvas.width], [Math.floor(x0), xb]];
    const ctx = this.ctx;
    for (const [left, right] of ranges) {
      if (right <= left) continue;
      ctx.save();
      ctx.beginPath();
      ctx.rect(left, 0, right - left, this.canvas.height);
      ctx.clip();
      ctx.drawImage(this.grid, left, 0, right - left, this.canvas.height, left, 0, right - left, this.canvas.height);
      this.strokeTraces(pathStart, head);
      this.fillMarkers(first, head, first, head);
      ctx.restore();
    }
    // Markers of beats the pen just passed, whole (the strips above clip them).
    for (const beat of this.beats) if (beat >= start && beat < head) this.lateBeats.push(beat);
    this.drawnHead = head;
    this.renderLateBeats();
  }

  /** Draw the queued markers: beats the pen just passed or that came late. */
  renderLateBeats() {
    const late = this.lateBeats;
    this.lateBeats = [];
    if (!late.length || !this.meta) return;
    const { first } = this.window(this.drawnHead);
    const ctx = this.ctx;
    ctx.save();
    ctx.beginPath();
    ctx.rect(this.geo.x0, 0, this.canvas.width - this.geo.x0, this.canvas.height);
    ctx.clip();
    ctx.fillStyle = COLORS.beat;
    ctx.beginPath();
    for (const beat of late) {
      if (beat >= first && beat < this.drawnHead) this.markerPath(beat);
    }
    ctx.fill();
    ctx.restore();
  }

  /** Stroke the visible leads for display samples lo…hi-1 (breaks at holes and at the wrap). */
  strokeTraces(lo, hi) {
    const ctx = this.ctx;
    const { mm, x0, pxPerSample, sweepN, baseY } = this.geo;
    const scale = GAIN_MM_PER_MV * mm;
    ctx.strokeStyle = COLORS.trace;
    ctx.lineWidth = this.lineWidth();
    ctx.lineJoin = "round";
    ctx.beginPath();
    this.visible.forEach((lead, r) => {
      const mv = this.mv[lead];
      const y0 = baseY[r];
      let penDown = false;
      for (let idx = lo; idx < hi; idx++) {
        const slot = idx & (HISTORY - 1);
        if (this.slotIndex[slot] !== idx) {
          penDown = false;
          continue;
        }
        const col = idx % sweepN;
        const x = x0 + col * pxPerSample;
        const y = y0 - mv[slot] * scale;
        if (penDown && col !== 0) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        penDown = true;
      }
    });
    ctx.stroke();
  }

  /** Fill the QRS markers of beats in lo…hi-1 (only those within first…head-1). */
  fillMarkers(lo, hi, first, head) {
    const ctx = this.ctx;
    ctx.fillStyle = COLORS.beat;
    ctx.beginPath();
    for (const beat of this.beats) {
      if (beat >= lo && beat < hi && beat >= first && beat < head) this.markerPath(beat);
    }
    ctx.fill();
  }

  /** Add a small downward triangle above every row at the beat's time. */
  markerPath(beat) {
    const ctx = this.ctx;
    const { mm, rowTop } = this.geo;
    const x = this.colX(beat);
    for (let r = 0; r < this.visible.length; r++) {
      const top = rowTop[r] + 0.3 * mm;
      ctx.moveTo(x - 1 * mm, top);
      ctx.lineTo(x + 1 * mm, top);
      ctx.lineTo(x, top + 1.6 * mm);
      ctx.closePath();
    }
  }

  /** Read-only counters on the canvas element, for tests and diagnostics. */
  publishCounters() {
    const head = this.drawnHead;
    let beatsDrawn = 0;
    let samplesDrawn = 0;
    if (this.meta && this.received > 0) {
      const { first } = this.window(head);
      for (const beat of this.beats) if (beat >= first && beat < head) beatsDrawn++;
      for (let idx = first; idx < head; idx++) {
        if (this.slotIndex[idx & (HISTORY - 1)] === idx) samplesDrawn++;
      }
    }
    const ds = this.canvas.dataset;
    const values = {
      beatsDrawn, beatsTotal: this.beatsTotal, samplesDrawn, renders: this.renders,
      traceX0: Math.ceil(this.geo.x0), // device px where the sweep area starts
    };
    for (const [key, value] of Object.entries(values)) {
      if (ds[key] !== String(value)) ds[key] = String(value);
    }
  }
}
