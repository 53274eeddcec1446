// study_view.js: the county reader's study viewer (#/study/<id>): the reading
// lock (claim, re-claim about once a minute while open, release), the whole
// ECG at true scale (study_chart.js) with its layouts, paper speed, gain,
// display filters and time navigation, calipers, and annotation editing
// (select/relabel/delete/add beats, mark segments, notes, undo); for admins,
// releasing the lock and assigning the study to a reader of the county. The
// report form is report_form.js; the patient's previous ECG beside this one is
// study_compare.js.

import { api, ApiError, Unauthorized } from "./api.js";
import { DEFAULT_PX_PER_MM } from "./ecg_chart.js";
import { formatTime } from "./format.js";
import { t } from "./i18n.js";
import { flagText, priorityBadge, readerName, waitingText } from "./reading_format.js";
import { ReportForm } from "./report_form.js";
import { caliperInterval, GAINS_MM_PER_MV, layoutsFor, SPEEDS_MM_PER_S, StudyChart } from "./study_chart.js";
import { StudyCompare } from "./study_compare.js";
import { StudySignal } from "./study_signal.js";

export const RECLAIM_MS = 60_000;
export const BEAT_LABELS = Object.freeze(["N", "S", "V", "F", "Q"]);
export const SEGMENT_LABELS = Object.freeze(["noise", "af", "aflutter", "vt", "svt", "pause", "artifact"]);
const PX_KEY = "teleconsult.pxPerMm";
const FILTER_KEYS = ["baseline", "mains", "muscle"];

const $ = (id) => document.getElementById(id);

function pxPerMm() {
  try {
    const v = Number(localStorage.getItem(PX_KEY));
    if (Number.isFinite(v) && v >= 1 && v <= 30) return v;
  } catch {
    // no localStorage
  }
  return DEFAULT_PX_PER_MM;
}

export class StudyView {
  /** me(): the logged-in user; onUnauthorized(): back to the login. */
  constructor({ me, onUnauthorized }) {
    this.me = me;
    this.onUnauthorized = onUnauthorized;
    this.chart = new StudyChart($("study-ecg"), { pxPerMm: pxPerMm() });
    this.s = null; // the open study's state
    this.tool = "caliper";
    this.drag = null;
    this.report = new ReportForm({
      onError: (err) => this.fail(err),
      onChanged: () => this.refreshStudy(),
      caliperMs: () => this.s?.caliperMs ?? null,
    });
    this.compare = new StudyCompare({
      main: this.chart,
      currentReport: () => this.currentReport(),
      onError: (err) => this.fail(err),
    });
    this.readers = null; // admins: Promise of the county's readers [{id, name}]
    this.wire();
    new ResizeObserver(() => {
      if (!this.s) return;
      const w = Math.round($("study-chart-wrap").clientWidth);
      if (w && w !== this.chart.containerWidth) {
        this.chart.containerWidth = w;
        this.draw();
      }
    }).observe($("study-chart-wrap"));
  }

  // ---- open / close ------------------------------------------------------------------

  async open(id) {
    this.close();
    const s = { id: Number(id), detail: null, annotations: null, signal: null, error: null, notice: null,
                caliperMs: null, selected: null, reclaim: null, loading: true };
    this.s = s;
    this.chart.setPxPerMm(pxPerMm());
    this.chart.containerWidth = Math.round($("study-chart-wrap").clientWidth) || 1000;
    this.chart.signal = null;
    this.chart.caliper = null;
    this.chart.selected = null;
    this.chart.setBeats([]);
    this.chart.setSegments([]);
    this.chart.setStart(0);
    this.render();
    try {
      const [detail, annotations] = await Promise.all([
        api(`/api/studies/${s.id}`), api(`/api/studies/${s.id}/annotations`),
      ]);
      if (this.s !== s) return;
      s.detail = detail;
      this.setAnnotations(annotations);
      this.report.open(s.id, detail, this.me());
      s.signal = new StudySignal(detail.study.recording_id, {
        onChange: (sig) => this.onSignal(s, sig),
      });
      s.signal.start();
      if (this.holdsLock()) this.startReclaim();
      this.compare.load(s.id);
      if (this.me()?.role === "admin") this.loadReaders(s);
    } catch (err) {
      if (this.s === s) this.fail(err);
    }
    s.loading = false;
    this.render();
  }

  close() {
    if (!this.s) return;
    this.s.signal?.stop();
    clearInterval(this.s.reclaim);
    this.report.close();
    this.compare.close();
    this.s = null;
  }

  onSignal(s, sig) {
    if (this.s !== s || !sig.meta) return;
    const first = !this.chart.signal;
    this.chart.setSignal({ fsHz: sig.meta.fsHz, leads: sig.meta.leads, mv: sig.mv });
    if (first) this.fillLayouts(sig.meta.leads);
    // A study still streaming: the detector's new beats come with the annotations.
    if (!sig.ended && !s.annotating && performance.now() - (s.beatsAt ?? 0) > 3000) {
      s.beatsAt = performance.now();
      api(`/api/studies/${s.id}/annotations`).then((a) => {
        if (this.s !== s || s.annotating) return;
        this.setAnnotations(a);
        this.draw();
        this.renderAnnotations();
      }).catch(() => {});
    }
    this.draw();
    this.renderTime();
  }

  /** The study's record (from the detail) and the lock. */
  study() {
    return this.s?.detail?.study ?? null;
  }

  holdsLock() {
    const st = this.study();
    return Boolean(st && st.claimed_by === this.me()?.id && st.status !== "signed");
  }

  async refreshStudy() {
    const s = this.s;
    if (!s) return;
    try {
      const detail = await api(`/api/studies/${s.id}`);
      if (this.s !== s) return;
      s.detail = detail;
      if (!this.holdsLock()) clearInterval(s.reclaim);
      this.report.update(detail, this.me());
      this.render();
    } catch (err) {
      if (this.s === s) this.fail(err);
    }
  }

  // ---- the lock -------------------------------------------------------------------------

  async claim() {
    const s = this.s;
    if (!s) return;
    try {
      const { study } = await api(`/api/studies/${s.id}/claim`, { method: "POST" });
      if (this.s !== s) return;
      s.detail = { ...s.detail, study };
      s.notice = null;
      this.startReclaim();
    } catch (err) {
      if (this.s === s) this.fail(err);
    }
    this.report.update(s.detail, this.me());
    this.render();
  }

  startReclaim() {
    const s = this.s;
    clearInterval(s.reclaim);
    s.reclaim = setInterval(() => this.reclaim(s), RECLAIM_MS);
  }

  async reclaim(s) {
    if (this.s !== s || !this.holdsLock()) return;
    try {
      const { study } = await api(`/api/studies/${s.id}/claim`, { method: "POST" });
      if (this.s === s) s.detail = { ...s.detail, study };
    } catch (err) {
      if (this.s !== s) return;
      clearInterval(s.reclaim);
      this.fail(err);
      await this.refreshStudy();
    }
  }

  async release() {
    const s = this.s;
    if (!s) return;
    try {
      const { study } = await api(`/api/studies/${s.id}/release`, { method: "POST" });
      if (this.s !== s) return;
      s.detail = { ...s.detail, study };
      clearInterval(s.reclaim);
      this.report.update(s.detail, this.me());
    } catch (err) {
      if (this.s === s) this.fail(err);
    }
    this.render();
  }

  // ---- admins: release anyone's lock, assign to a reader of the county ------------------------

  async loadReaders(s) {
    if (!this.readers) {
      this.readers = api("/api/readers").then((body) => body.readers).catch((err) => {
        this.readers = null;
        throw err;
      });
    }
    try {
      const readers = await this.readers;
      if (this.s !== s) return;
      const select = $("assign-reader");
      const keep = select.value;
      const none = option("", t("assign_choose"));
      select.replaceChildren(none, ...readers.map((r) => option(r.id, r.name)));
      select.value = readers.some((r) => String(r.id) === keep) ? keep : "";
      this.renderAdmin();
    } catch (err) {
      if (this.s === s) this.fail(err);
    }
  }

  async adminAction(kind) {
    const s = this.s;
    if (!s) return;
    const readerId = Number($("assign-reader").value);
    if (kind === "assign" && !readerId) return;
    try {
      const { study } = kind === "assign"
        ? await api(`/api/studies/${s.id}/assign`, { method: "POST", body: { reader_id: readerId } })
        : await api(`/api/studies/${s.id}/release`, { method: "POST" });
      if (this.s !== s) return;
      s.detail = { ...s.detail, study };
      s.error = null;
      s.adminMsg = kind === "assign" ? t("assigned_msg", { reader: readerName(study) }) : t("released_msg");
      this.report.update(s.detail, this.me());
    } catch (err) {
      if (this.s === s) this.fail(err);
    }
    this.render();
  }

  renderAdmin() {
    const st = this.study();
    const admin = this.me()?.role === "admin";
    const open = Boolean(st && st.status !== "signed");
    $("admin-lock").hidden = !admin || !open;
    $("admin-release").hidden = !admin || !open || st?.claimed_by == null;
    $("assign-submit").disabled = !$("assign-reader").value;
    $("admin-msg").textContent = this.s?.adminMsg ?? "";
  }

  fail(err) {
    if (err instanceof Unauthorized) {
      this.onUnauthorized();
      return;
    }
    if (!this.s) return;
    this.s.error = err instanceof ApiError ? { status: err.status, reason: err.reason } : { reason: String(err) };
    this.render();
  }

  // ---- annotations ----------------------------------------------------------------------

  setAnnotations(a) {
    const s = this.s;
    s.annotations = a;
    this.chart.setBeats(a.beats);
    this.chart.setSegments(a.segments.map((g) => ({ ...g, text: t(`seg_${g.label}`) })));
    if (s.selected != null && !a.beats.some((b) => b.sample === s.selected)) s.selected = null;
    this.chart.selected = s.selected;
  }

  async annotate(op) {
    const s = this.s;
    if (!s) return;
    s.annotating = true;
    try {
      const a = await api(`/api/studies/${s.id}/annotations`, { method: "POST", body: op });
      if (this.s !== s) return;
      s.error = null;
      this.setAnnotations(a);
      this.draw();
      this.renderAnnotations();
      this.renderNotice();
    } catch (err) {
      if (this.s === s) this.fail(err);
    } finally {
      s.annotating = false;
    }
  }

  // ---- pointer: calipers, beat selection, adding beats, segments ------------------------------

  pointer(ev) {
    const r = $("study-ecg").getBoundingClientRect();
    return { x: ev.clientX - r.left, y: ev.clientY - r.top };
  }

  onDown(ev) {
    if (!this.s || !this.chart.signal || ev.button !== 0) return;
    const p = this.pointer(ev);
    this.drag = { x1: p.x, y: p.y, x2: p.x, hit: this.chart.hit(p.x, p.y) };
    $("study-ecg").setPointerCapture?.(ev.pointerId);
    if (this.tool === "caliper") {
      this.chart.caliper = { x1: p.x, x2: p.x, y: p.y, text: "" };
      this.draw();
    } else if (this.tool === "segment") {
      this.chart.span = { x1: p.x, x2: p.x };
      this.draw();
    }
    ev.preventDefault();
  }

  onMove(ev) {
    const d = this.drag;
    if (!d) return;
    d.x2 = this.pointer(ev).x;
    if (this.tool === "caliper") this.updateCaliper(d);
    else if (this.tool === "segment") this.chart.span = { x1: d.x1, x2: d.x2 };
    else return;
    this.draw();
  }

  onUp(ev) {
    const d = this.drag;
    if (!d) return;
    this.drag = null;
    d.x2 = this.pointer(ev).x;
    const moved = Math.abs(d.x2 - d.x1) >= 3;
    if (this.tool === "caliper") {
      if (moved) this.updateCaliper(d);
      else {
        this.chart.caliper = null;
        this.s.caliperMs = null;
      }
      this.renderCaliper();
    } else if (this.tool === "select" && d.hit) {
      const beat = this.chart.nearestBeat(d.hit.sample);
      this.s.selected = beat ? beat.sample : null;
      this.chart.selected = this.s.selected;
      this.renderAnnotations();
    } else if (this.tool === "add" && d.hit && this.holdsLock()) {
      this.annotate({ op: "beat.add", sample: d.hit.sample, label: $("add-label").value });
    } else if (this.tool === "segment") {
      this.chart.span = null;
      const a = d.hit;
      if (moved && a && this.holdsLock()) {
        const p = a.panel;
        const fs = this.chart.signal.fsHz;
        const toSample = (x) => Math.round(p.s0 + ((x / this.chart.pxPerMm - p.xMm) / this.chart.speed) * fs);
        const lo = Math.max(p.s0, Math.min(toSample(d.x1), toSample(d.x2)));
        const hi = Math.min(p.s1, this.chart.signal.n - 1, Math.max(toSample(d.x1), toSample(d.x2)));
        if (hi > lo) this.annotate({ op: "segment.add", sample: lo, end_sample: hi, label: $("segment-label").value });
      }
    }
    this.draw();
  }

  updateCaliper(d) {
    const { ms, bpm } = caliperInterval(d.x2 - d.x1, this.chart.pxPerMm, this.chart.speed);
    this.s.caliperMs = ms;
    this.s.caliperBpm = bpm;
    this.chart.caliper = { x1: d.x1, x2: d.x2, y: d.y, text: caliperLabel(ms, bpm) };
    this.renderCaliper();
  }

  setTool(tool) {
    this.tool = tool;
    for (const b of document.querySelectorAll("[data-tool]")) {
      b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    }
    $("study-ecg").dataset.tool = tool;
  }

  // ---- drawing and text -----------------------------------------------------------------

  draw() {
    if (!this.s) return;
    this.chart.render();
    this.publishBeatPositions();
    this.compare.sync();
  }

  /** For tests and assistive tools: where the labelled beats are (CSS px). */
  publishBeatPositions() {
    const out = [];
    for (const p of this.chart.panels) {
      if (!p.strip || p.lead < 0) continue;
      for (const b of this.chart.beats) {
        if (b.sample >= p.s0 && b.sample < p.s1 && out.length < 40) {
          out.push({ sample: b.sample, label: b.label, x: Math.round(this.chart.xOf(p, b.sample)),
                     y: Math.round((p.baseMm) * this.chart.pxPerMm) });
        }
      }
      break;
    }
    $("study-ecg").dataset.beats = JSON.stringify(out);
  }

  fillLayouts(leads) {
    const select = $("study-layout");
    select.replaceChildren(...layoutsFor(leads).map((value) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = value.startsWith("lead:") ? t("layout_lead", { lead: leads[Number(value.slice(5))] })
        : t(`layout_${value}`);
      return o;
    }));
    select.value = this.chart.mode;
  }

  renderTime() {
    const c = this.chart;
    const total = c.durationS();
    const shown = Math.min(c.windowS(), total);
    $("study-time").textContent = t("time_window", {
      from: c.t0.toFixed(1), to: (c.t0 + shown).toFixed(1), total: total.toFixed(1),
    });
    $("study-prev").disabled = c.t0 <= 0;
    $("study-next").disabled = c.t0 + shown >= total - 1e-6;
  }

  renderCaliper() {
    const out = $("caliper-readout");
    const ms = this.s?.caliperMs;
    out.dataset.ms = ms == null ? "" : ms.toFixed(1);
    out.textContent = ms == null ? t("caliper_hint") : caliperLabel(ms, this.s.caliperBpm);
    for (const id of ["cal-to-pr", "cal-to-qrs", "cal-to-qt", "cal-to-hr"]) $(id).disabled = ms == null;
  }

  render() {
    const s = this.s;
    if (!s) return;
    const st = this.study();
    $("study-title").textContent = t("study_title", { id: s.id });
    const rec = s.detail?.recording;
    $("study-sub").textContent = st
      ? [rec ? rec.id : st.recording_id, rec ? `${Number(rec.fs_hz)} Hz` : "", rec ? t("n_leads", { n: rec.leads.length }) : "",
         t(`status_study_${st.status}`), t("received_at", { time: formatTime(st.received_at) })].filter(Boolean).join(" · ")
      : t(s.loading ? "loading" : "error_generic_short");
    const pr = $("study-priority");
    pr.replaceChildren(...(st ? [priorityBadge(st.priority)] : []));
    $("study-waiting").textContent = st ? waitingText(st) : "";
    $("study-waiting").classList.toggle("overdue", Boolean(st?.overdue));
    const mine = this.holdsLock();
    const lock = $("study-lock");
    lock.textContent = !st ? ""
      : st.status === "signed" ? t("lock_signed")
      : mine ? t("lock_mine")
      : st.claimed_by != null ? t("lock_other", { reader: readerName(st) })
      : t("lock_free");
    lock.className = `lock ${mine ? "mine" : st?.claimed_by != null ? "other" : ""}`;
    lock.dataset.reader = st?.claimed_by != null ? String(st.claimed_by) : "";
    // Only county readers read (docs/reporting.md); admins release and assign.
    $("study-claim").hidden = !st || st.status === "signed" || mine || this.me()?.role !== "county_reader";
    $("study-release").hidden = !mine;
    $("study-view").classList.toggle("readonly", !mine);
    const flags = st ? [...st.flags.map(flagText), ...st.auto_findings.map((f) => t("auto_finding", { code: f.code, reason: f.reason }))] : [];
    $("study-flags").hidden = flags.length === 0;
    $("study-flags").textContent = flags.join("；");
    $("study-note").hidden = !st?.note;
    $("study-note").textContent = st?.note ? t("clinical_question", { note: st.note }) : "";
    this.renderNotice();
    this.renderAdmin();
    this.renderCaliper();
    this.renderAnnotations();
    this.renderTime();
    if (this.chart.signal) this.fillLayouts(this.chart.signal.leads);
    this.compare.renderTable();
    this.draw();
  }

  /** The current study's report for the comparison: the form's values while it is open. */
  currentReport() {
    const d = this.s?.detail;
    if (!d) return null;
    const saved = d.report;
    const form = this.report.r ? this.report.body() : null;
    return { ...(saved ?? {}), ...(form ?? {}), status: saved?.status ?? null,
             reader: d.study.signed_by_name ?? "" };
  }

  renderNotice() {
    const s = this.s;
    const el = $("study-notice");
    const e = s?.error;
    el.hidden = !e;
    el.textContent = !e ? "" : errorText(e, this.study());
  }

  renderAnnotations() {
    const s = this.s;
    const a = s?.annotations;
    const mine = this.holdsLock();
    for (const el of document.querySelectorAll("#study-view .needs-lock")) el.disabled = !mine;
    const edit = $("beat-edit");
    const beat = a && s.selected != null ? a.beats.find((b) => b.sample === s.selected) : null;
    edit.hidden = !beat;
    if (beat) {
      const fs = a.fs_hz;
      $("beat-info").textContent = t("beat_info", { label: beat.label, time: (beat.sample / fs).toFixed(3),
                                                  source: t(beat.source === "auto" ? "beat_auto" : "beat_manual") });
      for (const b of document.querySelectorAll("[data-relabel]")) {
        b.setAttribute("aria-pressed", String(b.dataset.relabel === beat.label));
      }
    }
    const counts = {};
    for (const b of a?.beats ?? []) counts[b.label] = (counts[b.label] ?? 0) + 1;
    $("beat-summary").textContent = a
      ? t("beat_summary", { n: a.beats.length, labels: Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(" · ") })
      : "";
    const segs = $("segment-list");
    segs.replaceChildren(...(a?.segments ?? []).map((g) => listItem(
      t("segment_item", { label: t(`seg_${g.label}`), from: (g.start / a.fs_hz).toFixed(2), to: (g.end / a.fs_hz).toFixed(2) }),
      mine ? () => this.annotate({ op: "segment.delete", target: g.id }) : null)));
    const notes = $("note-list");
    notes.replaceChildren(...(a?.notes ?? []).map((n) => listItem(
      n.sample == null ? n.body : t("note_at", { body: n.body, time: (n.sample / a.fs_hz).toFixed(2) }),
      mine ? () => this.annotate({ op: "note.delete", target: n.id }) : null)));
  }

  // ---- wiring --------------------------------------------------------------------------------

  wire() {
    const canvas = $("study-ecg");
    canvas.addEventListener("pointerdown", (ev) => this.onDown(ev));
    canvas.addEventListener("pointermove", (ev) => this.onMove(ev));
    canvas.addEventListener("pointerup", (ev) => this.onUp(ev));
    canvas.addEventListener("pointercancel", () => {
      this.drag = null;
      this.chart.span = null;
    });
    $("study-claim").addEventListener("click", () => this.claim());
    $("study-release").addEventListener("click", () => this.release());
    $("admin-release").addEventListener("click", () => this.adminAction("release"));
    $("assign-submit").addEventListener("click", () => this.adminAction("assign"));
    $("assign-reader").addEventListener("change", () => this.renderAdmin());
    // The comparison shows the report as it is being written.
    for (const type of ["input", "click"]) {
      $("report-panel").addEventListener(type, () => queueMicrotask(() => this.compare.renderTable()));
    }
    $("study-layout").addEventListener("change", () => {
      this.chart.setLayout($("study-layout").value);
      this.chart.setStart(this.chart.t0);
      this.draw();
      this.renderTime();
    });
    const speed = $("study-speed");
    speed.replaceChildren(...SPEEDS_MM_PER_S.map((v) => option(v, t("speed_value", { v }))));
    speed.value = "25";
    speed.addEventListener("change", () => {
      this.chart.setSpeed(Number(speed.value));
      this.chart.caliper = null;
      if (this.s) this.s.caliperMs = null;
      this.renderCaliper();
      this.chart.setStart(this.chart.t0);
      this.draw();
      this.renderTime();
    });
    const gain = $("study-gain");
    gain.replaceChildren(...GAINS_MM_PER_MV.map((v) => option(v, t("gain_value", { v }))));
    gain.value = "10";
    gain.addEventListener("change", () => {
      this.chart.setGain(Number(gain.value));
      this.draw();
    });
    for (const key of FILTER_KEYS) {
      $(`filter-${key}`).addEventListener("change", (ev) => {
        this.chart.setFilters({ [key]: ev.target.checked });
        this.draw();
      });
    }
    $("study-prev").addEventListener("click", () => this.shift(-1));
    $("study-next").addEventListener("click", () => this.shift(1));
    for (const b of document.querySelectorAll("[data-tool]")) b.addEventListener("click", () => this.setTool(b.dataset.tool));
    this.setTool("caliper");
    $("add-label").replaceChildren(...BEAT_LABELS.map((l) => option(l, l)));
    $("segment-label").replaceChildren(...SEGMENT_LABELS.map((l) => option(l, t(`seg_${l}`))));
    $("relabel-buttons").replaceChildren(...BEAT_LABELS.map((l) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.relabel = l;
      b.className = "needs-lock";
      b.textContent = l;
      b.title = t(`beat_${l}`);
      b.addEventListener("click", () => {
        if (this.s?.selected != null) this.annotate({ op: "beat.relabel", sample: this.s.selected, label: l });
      });
      return b;
    }));
    $("beat-delete").addEventListener("click", () => {
      if (this.s?.selected != null) this.annotate({ op: "beat.delete", sample: this.s.selected });
    });
    $("annot-undo").addEventListener("click", () => this.annotate({ op: "undo" }));
    $("note-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = $("note-text").value.trim();
      if (!body || !this.s) return;
      const op = { op: "note.add", body };
      if (this.s.selected != null) op.sample = this.s.selected;
      $("note-text").value = "";
      this.annotate(op);
    });
    const apply = (id, key, fromBpm) => $(id).addEventListener("click", () => {
      const ms = this.s?.caliperMs;
      if (ms != null) this.report.setMeasurement(key, fromBpm ? Math.round(60000 / ms) : Math.round(ms));
    });
    apply("cal-to-pr", "pr_ms");
    apply("cal-to-qrs", "qrs_ms");
    apply("cal-to-qt", "qt_ms");
    apply("cal-to-hr", "heart_rate_bpm", true);
  }

  shift(direction) {
    const c = this.chart;
    c.setStart(c.t0 + direction * Math.max(1, c.windowS()));
    this.draw();
    this.renderTime();
  }

  /** Texts again after a language switch. */
  relabel() {
    const speed = $("study-speed");
    for (const o of speed.options) o.textContent = t("speed_value", { v: o.value });
    for (const o of $("study-gain").options) o.textContent = t("gain_value", { v: o.value });
    for (const o of $("segment-label").options) o.textContent = t(`seg_${o.value}`);
    if (this.s?.annotations) this.setAnnotations(this.s.annotations);
    this.compare.render();
    this.render();
    this.report.render();
  }
}

function caliperLabel(ms, bpm) {
  return t("caliper_value", { ms: Math.round(ms), bpm: bpm == null ? "--" : Math.round(bpm) });
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = String(value);
  o.textContent = text;
  return o;
}

function listItem(text, onDelete) {
  const li = document.createElement("li");
  const span = document.createElement("span");
  span.textContent = text;
  li.append(span);
  if (onDelete) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = t("delete");
    b.addEventListener("click", onDelete);
    li.append(b);
  }
  return li;
}

/** An API error in the UI language; `study`: the study concerned (for the name of its reader). */
export function errorText(e, study = null) {
  const reason = e.reason || "";
  const claimed = reason.match(/^claimed by reader (\d+)/);
  if (claimed) {
    const named = study && String(study.claimed_by) === claimed[1] && study.claimed_by_name;
    return t("error_claimed", { reader: named || `#${claimed[1]}` });
  }
  if (reason === "signed already") return t("error_signed_already");
  if (e.status === 403) return t("error_forbidden_action");
  if (e.status === 409) return t("error_conflict", { reason });
  return t("error_request", { status: e.status ?? "", reason });
}
