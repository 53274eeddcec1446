// study_compare.js: the patient's previous ECG beside the current one in the
// study viewer ("对比 Compare with previous"). Lists the same patient's earlier
// studies (GET /api/studies/<id>/previous: same county, newest first, each with
// its signed report), draws the chosen one with a second StudyChart that
// follows the current chart's calibration, paper speed, gain, layout, filters
// and time window (so both are at the same true scale, aligned), and puts both
// reports' statements and key measurements next to each other.
//
//   const cmp = new StudyCompare({ main: chart, currentReport, onError });
//   cmp.load(studyId); … cmp.sync() after every redraw of the main chart; cmp.close()

import { api } from "./api.js";
import { formatTime } from "./format.js";
import { t } from "./i18n.js";
import { statements } from "./report_form.js";
import { MEASUREMENT_KEYS, measurementLabel, measurementValue, statementLabel } from "./reading_format.js";
import { layoutsFor, leadIndex, StudyChart } from "./study_chart.js";
import { StudySignal } from "./study_signal.js";

const $ = (id) => document.getElementById(id);

/** The layout of `leads` that matches `mode` of the current ECG (same name; one lead by its name). */
export function matchingLayout(mode, currentLeads, leads) {
  const available = layoutsFor(leads);
  if (available.includes(mode) && !mode.startsWith("lead:")) return mode;
  if (mode.startsWith("lead:")) {
    const name = currentLeads[Number(mode.slice(5))];
    const k = name == null ? -1 : leadIndex(leads, name);
    if (k >= 0) return `lead:${k}`;
  }
  return available.includes("rows") && mode !== "12" && mode !== "18" ? "rows" : available[0];
}

export class StudyCompare {
  /** main: the current ECG's StudyChart; currentReport(): {status, statements, measurements} or null. */
  constructor({ main, currentReport, onError }) {
    this.main = main;
    this.currentReport = currentReport;
    this.onError = onError;
    this.chart = new StudyChart($("compare-ecg"), { pxPerMm: main.pxPerMm });
    this.c = null; // {studyId, list, chosen, signal, filters}
    this.all = new Map();
    $("compare-select").addEventListener("change", (ev) => this.choose(ev.target.value));
    $("compare-close").addEventListener("click", () => this.choose(""));
  }

  async load(studyId) {
    this.close();
    const c = { studyId, list: null, chosen: null, signal: null, filters: "" };
    this.c = c;
    this.render();
    try {
      const [{ studies: list }, all] = await Promise.all([
        api(`/api/studies/${studyId}/previous`), statements().catch(() => new Map()),
      ]);
      if (this.c !== c) return;
      c.list = list;
      this.all = all;
    } catch (err) {
      if (this.c !== c) return;
      c.list = [];
      this.onError(err);
    }
    this.render();
  }

  close() {
    if (!this.c) return;
    this.c.signal?.stop();
    this.c = null;
    this.render();
  }

  choose(value) {
    const c = this.c;
    if (!c) return;
    c.signal?.stop();
    c.signal = null;
    c.filters = "";
    this.chart.signal = null;
    this.chart.setBeats([]);
    c.chosen = (c.list ?? []).find((row) => String(row.study.id) === String(value)) ?? null;
    if (c.chosen) {
      const chosen = c.chosen;
      c.signal = new StudySignal(chosen.recording.id, {
        onChange: (sig) => {
          if (this.c !== c || c.chosen !== chosen || !sig.meta) return;
          this.chart.setSignal({ fsHz: sig.meta.fsHz, leads: sig.meta.leads, mv: sig.mv });
          c.filters = "";
          this.sync();
        },
      });
      c.signal.start();
      api(`/api/studies/${chosen.study.id}/annotations`).then((a) => {
        if (this.c !== c || c.chosen !== chosen) return;
        this.chart.setBeats(a.beats);
        this.sync();
      }).catch(() => {});
    }
    this.render();
  }

  /** Follow the current ECG: calibration, speed, gain, filters, layout, time window; redraw. */
  sync() {
    const c = this.c;
    const cmp = this.chart;
    if (!c?.chosen || !cmp.signal) return;
    const m = this.main;
    cmp.setPxPerMm(m.pxPerMm);
    cmp.setSpeed(m.speed);
    cmp.setGain(m.gain);
    cmp.containerWidth = m.containerWidth;
    const filters = JSON.stringify(m.filters);
    if (filters !== c.filters) {
      c.filters = filters;
      cmp.setFilters(m.filters);
    }
    cmp.setLayout(m.signal ? matchingLayout(m.mode, m.signal.leads, cmp.signal.leads) : layoutsFor(cmp.signal.leads)[0]);
    cmp.setStart(m.t0);
    cmp.render();
    $("compare-time").textContent = t("time_window", {
      from: cmp.t0.toFixed(1), to: (cmp.t0 + Math.min(cmp.windowS(), cmp.durationS())).toFixed(1),
      total: cmp.durationS().toFixed(1),
    });
  }

  // ---- text ------------------------------------------------------------------------------

  optionText(row) {
    const st = row.study;
    const first = row.report?.statements?.[0];
    return t("compare_option", {
      id: st.id, time: formatTime(st.received_at),
      report: row.report ? (first ? this.label(first) : t("compare_signed")) : t(`status_study_${st.status}`),
    });
  }

  label(code) {
    const s = this.all.get(code);
    return s ? statementLabel(s) : code;
  }

  render() {
    const c = this.c;
    const bar = $("compare-bar");
    bar.hidden = !c;
    const select = $("compare-select");
    const list = c?.list ?? [];
    const none = document.createElement("option");
    none.value = "";
    none.textContent = !c || c.list == null ? t("loading") : list.length ? t("compare_choose", { n: list.length })
      : t("compare_none");
    select.replaceChildren(none, ...list.map((row) => {
      const o = document.createElement("option");
      o.value = String(row.study.id);
      o.textContent = this.optionText(row);
      return o;
    }));
    select.value = c?.chosen ? String(c.chosen.study.id) : "";
    select.disabled = !list.length;
    const chosen = c?.chosen ?? null;
    $("compare-panel").hidden = !chosen;
    $("current-label").hidden = !chosen;
    $("compare-panel").dataset.study = chosen ? String(chosen.study.id) : "";
    if (!chosen) return;
    $("compare-title").textContent = t("compare_title", { id: chosen.study.id, time: formatTime(chosen.study.received_at) });
    $("current-label").textContent = t("compare_current", { id: c.studyId });
    this.renderTable();
    this.sync();
  }

  /** Both reports' statements and key measurements, current beside previous. */
  renderTable() {
    const chosen = this.c?.chosen;
    if (!chosen) return;
    const current = this.currentReport();
    const previous = chosen.report;
    const table = $("compare-table");
    const head = document.createElement("tr");
    head.append(th(""), th(t("compare_current", { id: this.c.studyId })),
      th(t("compare_previous", { id: chosen.study.id, time: formatTime(chosen.study.received_at) })));
    const rows = [];
    const stmts = (report) => {
      const ul = document.createElement("ul");
      ul.className = "statements";
      for (const code of report?.statements ?? []) {
        const li = document.createElement("li");
        li.dataset.code = code;
        li.textContent = this.label(code);
        if (this.all.get(code)?.critical) li.className = "critical";
        ul.append(li);
      }
      if (!ul.children.length) ul.append(Object.assign(document.createElement("li"), { textContent: "—" }));
      return ul;
    };
    rows.push(row(t("statements"), stmts(current), stmts(previous), "statements"));
    for (const key of MEASUREMENT_KEYS) {
      const a = current?.measurements?.[key];
      const b = previous?.measurements?.[key];
      if (a == null && b == null) continue;
      const tr = row(measurementLabel(key), a == null ? "—" : measurementValue(key, a),
        b == null ? "—" : measurementValue(key, b), key);
      rows.push(tr);
    }
    const status = (report, isCurrent) => {
      if (!report?.status) return t(isCurrent ? "compare_no_report" : "compare_unsigned");
      if (report.status !== "signed") return t("compare_draft");
      return t("compare_report_signed", { version: report.version ?? 1, reader: report.reader || "",
                                          time: report.signed_at ? formatTime(report.signed_at) : "" });
    };
    rows.push(row(t("report"), status(current, true), status(previous, false), "report"));
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren(...rows);
  }
}

function th(text) {
  const el = document.createElement("th");
  el.scope = "col";
  el.textContent = text;
  return el;
}

function row(label, a, b, key) {
  const tr = document.createElement("tr");
  tr.dataset.key = key;
  const head = document.createElement("th");
  head.scope = "row";
  head.textContent = label;
  const cell = (v) => {
    const td = document.createElement("td");
    td.append(v);
    return td;
  };
  tr.append(head, cell(a), cell(b));
  return tr;
}
