// report_form.js: the report of a study in the reader's viewer: statements
// picked from the catalogue (GET /api/statements, searched in Chinese or
// English, by code too), free text, measurements pre-filled from the study;
// save draft, sign (both under the reading lock), amend a signed report with
// a reason; versions listed with their PDF.

import { api } from "./api.js";
import { formatTime } from "./format.js";
import { t } from "./i18n.js";
import { MEASUREMENT_KEYS, measurementLabel, statementLabel } from "./reading_format.js";

const $ = (id) => document.getElementById(id);
const MAX_RESULTS = 12;
/** What an empty search offers first: the everyday statements. */
const EVERYDAY = ["SR", "NORM", "SBRAD", "STACH", "SARRH", "AFIB", "AFLT", "PAC", "PVC", "1AVB", "CRBBB", "CLBBB",
                  "LAFB", "LVH", "STE_", "STD_", "NT_", "INVT", "QWAVE", "LVOLT"];

let catalogue = null; // Promise of Map code -> statement

/** The statement catalogue, fetched once per page. */
export function statements() {
  if (!catalogue) {
    catalogue = api("/api/statements").then(({ statements: list }) => new Map(list.map((s) => [s.code, s])))
      .catch((err) => {
        catalogue = null;
        throw err;
      });
  }
  return catalogue;
}

/** Statements matching `query` (code, Chinese, English or description; common ones first). */
export function searchStatements(all, query, exclude = new Set()) {
  const q = query.trim().toLowerCase();
  if (!q) return EVERYDAY.filter((c) => all.has(c) && !exclude.has(c)).slice(0, MAX_RESULTS).map((c) => all.get(c));
  const scored = [];
  for (const s of all.values()) {
    if (exclude.has(s.code)) continue;
    const fields = [s.code, s.zh, s.en, s.description].map((f) => String(f || "").toLowerCase());
    let score = -1;
    if (fields.some((f) => f === q)) score = 0;
    else if (fields.some((f) => f.startsWith(q))) score = 1;
    else if (fields.some((f) => f.includes(q))) score = 2;
    if (score >= 0) scored.push([score + (s.common ? 0 : 0.5), s]);
  }
  scored.sort((a, b) => a[0] - b[0] || Number(b[1].critical) - Number(a[1].critical));
  return scored.slice(0, MAX_RESULTS).map(([, s]) => s);
}

/** QTc from QT (ms) and heart rate (bpm): {bazett, fridericia} in ms. */
export function qtc(qtMs, hrBpm) {
  if (!(qtMs > 0) || !(hrBpm > 0)) return null;
  const rr = 60 / hrBpm;
  return { bazett: qtMs / Math.sqrt(rr), fridericia: qtMs / Math.cbrt(rr) };
}

export class ReportForm {
  constructor({ onError, onChanged, caliperMs }) {
    this.onError = onError;
    this.onChanged = onChanged;
    this.caliperMs = caliperMs;
    this.r = null;
    this.all = new Map();
    this.wire();
  }

  open(studyId, detail, me) {
    this.r = { studyId, detail, me, codes: [], text: "", values: {}, message: null, busy: false };
    this.load(detail, true);
    statements().then((all) => {
      this.all = all;
      this.render();
    }).catch((err) => this.onError(err));
    this.render();
  }

  close() {
    this.r = null;
  }

  /** Fill the form from the newest version (or the study's automatic measurements). */
  load(detail, fresh) {
    const r = this.r;
    const current = detail.report;
    if (fresh || !this.editing()) {
      r.codes = current ? current.statements.slice() : [];
      r.text = current ? current.free_text : "";
      const base = { ...(detail.auto_measurements || {}) };
      delete base.rr_max_s;
      const m = current ? { ...base, ...current.measurements } : base;
      r.values = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(Math.round(Number(v) * 10) / 10)]));
      $("amend-reason").value = "";
    }
  }

  update(detail, me) {
    if (!this.r) return;
    const wasSigned = this.r.detail.study.status === "signed";
    this.r.detail = detail;
    this.r.me = me;
    this.load(detail, !wasSigned && detail.study.status === "signed");
    this.render();
  }

  /** "draft" (the lock holder, unsigned), "amend" (a county reader, signed) or "readonly". */
  mode() {
    const r = this.r;
    if (!r) return "readonly";
    const st = r.detail.study;
    const me = r.me;
    if (!me || me.role !== "county_reader") return "readonly";
    if (st.status === "signed") return "amend";
    return st.claimed_by === me.id ? "draft" : "readonly";
  }

  editing() {
    return this.mode() !== "readonly";
  }

  setMeasurement(key, value) {
    if (!this.r || !this.editing()) return;
    this.r.values[key] = String(value);
    this.fillQtc();
    this.render();
  }

  fillQtc() {
    const v = this.r.values;
    const c = qtc(Number(v.qt_ms), Number(v.heart_rate_bpm));
    if (!c) return;
    v.qtc_bazett_ms = String(Math.round(c.bazett));
    v.qtc_fridericia_ms = String(Math.round(c.fridericia));
  }

  body() {
    const r = this.r;
    const measurements = {};
    for (const [k, v] of Object.entries(r.values)) {
      if (String(v).trim() !== "" && Number.isFinite(Number(v))) measurements[k] = Number(v);
    }
    return { statements: r.codes.slice(), free_text: r.text, measurements };
  }

  async run(kind) {
    const r = this.r;
    if (!r || r.busy) return;
    const id = r.studyId;
    r.busy = true;
    r.message = null;
    this.render();
    try {
      if (kind === "draft" || kind === "sign") {
        await api(`/api/studies/${id}/report`, { method: "PUT", body: this.body() });
        if (kind === "sign") {
          $("report-msg").dataset.signStartedAt = String(Date.now());
          const { report } = await api(`/api/studies/${id}/report/sign`, { method: "POST" });
          $("report-msg").dataset.signedAt = String(report.signed_at);
          r.message = { key: "report_signed", params: { v: report.version } };
        } else {
          r.message = { key: "draft_saved", params: { time: formatTime(Date.now()) } };
        }
      } else {
        const reason = $("amend-reason").value.trim();
        if (!reason) {
          r.message = { key: "amend_reason_required", error: true };
          return;
        }
        const { report } = await api(`/api/studies/${id}/report/amend`, {
          method: "POST", body: { ...this.body(), reason },
        });
        $("amend-reason").value = "";
        r.message = { key: "report_amended", params: { v: report.version } };
      }
      this.onChanged();
    } catch (err) {
      this.onError(err);
    } finally {
      if (this.r === r) {
        r.busy = false;
        this.render();
      }
    }
  }

  // ---- rendering ---------------------------------------------------------------------

  render() {
    const r = this.r;
    if (!r) return;
    const mode = this.mode();
    const current = r.detail.report;
    $("report-panel").dataset.mode = mode;
    $("report-status").textContent = !current ? t("report_none")
      : current.status === "signed"
        ? t(current.version > 1 ? "report_amended_v" : "report_signed_v", { v: current.version, time: formatTime(current.signed_at) })
        : t("report_draft_v", { time: formatTime(current.updated_at) });
    this.renderSelected(mode);
    this.renderResults(mode);
    const text = $("free-text");
    if (document.activeElement !== text) text.value = r.text;
    text.disabled = mode === "readonly";
    for (const key of MEASUREMENT_KEYS) {
      const input = $(`m-${key}`);
      if (document.activeElement !== input) input.value = r.values[key] ?? "";
      input.disabled = mode === "readonly";
    }
    $("save-draft").hidden = mode !== "draft";
    $("sign").hidden = mode !== "draft";
    $("amend-box").hidden = mode !== "amend";
    for (const id of ["save-draft", "sign", "amend"]) $(id).disabled = r.busy;
    const pdf = $("report-pdf");
    const signed = current && current.status === "signed";
    pdf.hidden = !signed;
    if (signed) pdf.href = `/api/studies/${r.studyId}/report.pdf?version=${current.version}`;
    const msg = $("report-msg");
    msg.textContent = r.message ? t(r.message.key, r.message.params) : "";
    msg.classList.toggle("error", Boolean(r.message?.error));
    $("report-versions").replaceChildren(...(r.detail.versions || []).slice().reverse().map((v) => {
      const li = document.createElement("li");
      li.textContent = t("version_line", {
        v: v.version, status: t(`report_status_${v.status}`),
        time: formatTime(v.signed_at ?? v.updated_at), reason: v.amend_reason ? ` · ${v.amend_reason}` : "",
      });
      return li;
    }));
  }

  renderSelected(mode) {
    const r = this.r;
    $("stmt-selected").replaceChildren(...r.codes.map((code) => {
      const s = this.all.get(code);
      const li = document.createElement("li");
      li.className = s?.critical ? "chip critical" : "chip";
      li.dataset.code = code;
      const span = document.createElement("span");
      span.textContent = s ? statementLabel(s) : code;
      li.append(span);
      if (mode !== "readonly") {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "chip-remove";
        b.textContent = "×";
        b.setAttribute("aria-label", t("remove_statement", { code }));
        b.addEventListener("click", () => {
          r.codes = r.codes.filter((c) => c !== code);
          this.render();
        });
        li.append(b);
      }
      return li;
    }));
  }

  renderResults(mode) {
    const r = this.r;
    const search = $("stmt-search");
    search.disabled = mode === "readonly";
    const ul = $("stmt-results");
    if (mode === "readonly" || !this.all.size || (!search.value.trim() && document.activeElement !== search)) {
      ul.replaceChildren();
      return;
    }
    const found = searchStatements(this.all, search.value, new Set(r.codes));
    ul.replaceChildren(...found.map((s) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = s.critical ? "stmt critical" : "stmt";
      b.dataset.code = s.code;
      b.textContent = `${statementLabel(s)} (${s.code})`;
      b.addEventListener("click", () => {
        r.codes.push(s.code);
        search.value = "";
        this.render();
        search.focus();
      });
      li.append(b);
      return li;
    }));
  }

  wire() {
    $("stmt-search").addEventListener("input", () => {
      if (this.r) this.renderResults(this.mode());
    });
    $("stmt-search").addEventListener("focus", () => {
      if (this.r) this.renderResults(this.mode());
    });
    $("stmt-search").addEventListener("blur", () => {
      if (this.r) this.renderResults(this.mode());
    });
    // Keep the focus in the search box while a result is clicked (the list stays open).
    $("stmt-results").addEventListener("pointerdown", (ev) => ev.preventDefault());
    $("stmt-search").addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" || !this.r) return;
      ev.preventDefault();
      const first = $("stmt-results").querySelector("button");
      if (first) first.click();
    });
    $("free-text").addEventListener("input", (ev) => {
      if (this.r) this.r.text = ev.target.value;
    });
    const fieldset = $("measurements");
    fieldset.replaceChildren(fieldset.firstElementChild, ...MEASUREMENT_KEYS.map((key) => {
      const label = document.createElement("label");
      const span = document.createElement("span");
      span.dataset.m = key;
      const input = document.createElement("input");
      input.id = `m-${key}`;
      input.type = "number";
      input.step = "any";
      input.inputMode = "decimal";
      input.addEventListener("input", () => {
        if (!this.r) return;
        this.r.values[key] = input.value;
        if (key === "qt_ms" || key === "heart_rate_bpm") {
          this.fillQtc();
          for (const k of ["qtc_bazett_ms", "qtc_fridericia_ms"]) $(`m-${k}`).value = this.r.values[k] ?? "";
        }
      });
      label.append(span, input);
      return label;
    }));
    this.relabel();
    $("save-draft").addEventListener("click", () => this.run("draft"));
    $("sign").addEventListener("click", () => this.run("sign"));
    $("amend").addEventListener("click", () => this.run("amend"));
  }

  /** Measurement labels in the UI language. */
  relabel() {
    for (const span of document.querySelectorAll("#measurements [data-m]")) span.textContent = measurementLabel(span.dataset.m);
  }
}
