// my_ecgs.js: the village doctor's page (#/mine): send a live or ended
// recording of the clinic for reading (priority, clinical question), upload
// an ECG file (WFDB .hea + .dat, .zip, DICOM, XML …); "received" at once with
// the arrival flags and their reasons; the clinic's studies; and the reports
// pushed over the notify socket: shown at once, delivery receipt sent
// automatically, acknowledged with a button (required for critical findings),
// with the PDF.

import { api, apiForm, ApiError, listRecordings, Unauthorized } from "./api.js";
import { formatTime } from "./format.js";
import { t } from "./i18n.js";
import {
  flagText, formatSeconds, MEASUREMENT_KEYS, measurementLabel, measurementValue, PRIORITIES, priorityBadge,
  priorityText, statementLabel,
} from "./reading_format.js";

export const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);

export class MyEcgs {
  constructor({ onUnauthorized, notify }) {
    this.onUnauthorized = onUnauthorized;
    this.notify = notify; // NotifySocket (owned by the app)
    this.recordings = [];
    this.studies = [];
    this.reports = new Map(); // study id -> {message, receipt, acked, shownAt}
    this.sendRows = new Map(); // recording id -> <tr> (keeps what the doctor typed)
    this.sent = new Map(); // recording id -> result of the submission
    this.upload = null; // {study} | {error}
    this.timer = null;
    this.generation = 0;
    this.wire();
  }

  start() {
    this.stop();
    this.refresh();
  }

  stop() {
    clearTimeout(this.timer);
    this.generation += 1;
  }

  async refresh() {
    const generation = this.generation;
    try {
      const [recordings, { studies }] = await Promise.all([listRecordings(), api("/api/studies")]);
      if (generation !== this.generation) return;
      this.recordings = recordings;
      this.studies = studies;
      $("mine-error").hidden = true;
      this.render();
    } catch (err) {
      if (generation !== this.generation) return;
      if (err instanceof Unauthorized) {
        this.stop();
        this.onUnauthorized();
        return;
      }
      $("mine-error").textContent = t("network_error");
      $("mine-error").hidden = false;
    }
    this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  // ---- notify socket messages (the app forwards them) ------------------------------------

  onMessage(msg) {
    if (msg.t === "report") {
      const id = msg.study.id;
      const old = this.reports.get(id);
      if (old && old.message.report.version > msg.report.version) return;
      const entry = { message: msg, receipt: false, acked: Boolean(msg.report.acknowledged_at), shownAt: null };
      this.reports.set(id, entry);
      this.renderReports();
      entry.shownAt = Date.now();
      const card = document.querySelector(`.report-card[data-study='${id}']`);
      if (card) card.dataset.shownAt = String(entry.shownAt);
      // The report is on screen: the delivery receipt.
      this.notify.send({ t: "receipt", study: id, version: msg.report.version });
      this.poke();
    } else if (msg.t === "ok" || msg.t === "error") {
      const entry = this.reports.get(msg.study);
      if (!entry || entry.message.report.version !== msg.version) return;
      if (msg.t === "ok" && msg.for === "receipt") entry.receipt = true;
      if (msg.t === "ok" && msg.for === "ack") entry.acked = true;
      if (msg.t === "error") entry.error = msg.reason;
      this.renderReports();
      if (msg.for === "ack") this.poke();
    }
  }

  poke() {
    clearTimeout(this.timer);
    this.refresh();
  }

  acknowledge(id) {
    const entry = this.reports.get(id);
    if (!entry) return;
    entry.acking = true;
    this.notify.send({ t: "ack", study: id, version: entry.message.report.version });
    this.renderReports();
  }

  // ---- sending ECGs ------------------------------------------------------------------------

  async submit(recordingId, tr) {
    const button = tr.querySelector("button.send");
    button.disabled = true;
    try {
      const { study } = await api("/api/studies", {
        method: "POST",
        body: {
          recording_id: recordingId,
          priority: tr.querySelector("select").value,
          note: tr.querySelector("input").value.trim(),
        },
      });
      this.sent.set(recordingId, { study });
      this.poke();
    } catch (err) {
      if (err instanceof Unauthorized) return this.onUnauthorized();
      this.sent.set(recordingId, { error: errorReason(err) });
      button.disabled = false;
    }
    this.render();
  }

  async uploadFiles(ev) {
    ev.preventDefault();
    const files = $("upload-file").files;
    if (!files.length) {
      this.upload = { error: t("upload_choose") };
      this.renderUpload();
      return;
    }
    const form = new FormData();
    form.append("priority", $("upload-priority").value);
    form.append("note", $("upload-note").value.trim());
    for (const f of files) form.append("file", f, f.name);
    $("upload-submit").disabled = true;
    this.upload = { busy: true };
    this.renderUpload();
    try {
      const { study } = await apiForm("/api/studies/upload", form);
      this.upload = { study };
      $("upload-form").reset();
      $("upload-priority").value = "routine";
      this.poke();
    } catch (err) {
      if (err instanceof Unauthorized) return this.onUnauthorized();
      this.upload = { error: errorReason(err) };
    } finally {
      $("upload-submit").disabled = false;
    }
    this.renderUpload();
  }

  // ---- rendering ---------------------------------------------------------------------------

  render() {
    this.renderSend();
    this.renderStudies();
    this.renderUpload();
    this.renderReports();
  }

  renderUpload() {
    const out = $("upload-result");
    const u = this.upload;
    out.replaceChildren();
    out.hidden = !u;
    if (!u) return;
    out.className = u.error ? "notice error" : "notice info";
    if (u.busy) out.textContent = t("uploading");
    else if (u.error) out.textContent = t("upload_refused", { reason: u.error });
    else out.append(...receivedLines(u.study));
  }

  renderSend() {
    const submitted = new Set(this.studies.map((s) => s.recording_id));
    const list = this.recordings.filter((r) => !submitted.has(String(r.id)) || this.sent.has(String(r.id)));
    const tbody = $("send-table").tBodies[0];
    const seen = new Set();
    list.forEach((r, pos) => {
      const id = String(r.id);
      seen.add(id);
      let tr = this.sendRows.get(id);
      if (!tr) {
        tr = sendRow(id, (row) => this.submit(id, row));
        this.sendRows.set(id, tr);
      }
      const c = tr.cells;
      c[1].textContent = r.status === "live" || r.connected ? t("status_live") : t("status_ended");
      c[2].textContent = `${(r.leads || []).length} · ${Number(r.fs_hz)} Hz`;
      c[3].textContent = formatTime(r.started_at);
      const sent = this.sent.get(id);
      const result = tr.querySelector(".result");
      result.replaceChildren(...(sent ? (sent.study ? receivedLines(sent.study) : [sent.error]) : []));
      result.className = sent?.error ? "result error" : "result";
      tr.querySelector("button.send").hidden = Boolean(sent?.study);
      if (tbody.rows[pos] !== tr) tbody.insertBefore(tr, tbody.rows[pos] ?? null);
    });
    for (const [id, tr] of this.sendRows) {
      if (!seen.has(id)) {
        tr.remove();
        this.sendRows.delete(id);
      }
    }
    $("send-empty").hidden = list.length > 0;
  }

  renderStudies() {
    const tbody = $("my-studies").tBodies[0];
    tbody.replaceChildren(...this.studies.map((st) => {
      const tr = document.createElement("tr");
      tr.dataset.id = String(st.id);
      const cells = Array.from({ length: 7 }, () => document.createElement("td"));
      cells[0].textContent = `#${st.id}`;
      cells[1].append(priorityBadge(st.priority));
      cells[2].textContent = t(`source_${st.source}`);
      cells[3].textContent = formatTime(st.received_at);
      cells[4].textContent = studyState(st);
      cells[5].textContent = st.signed_at != null ? formatSeconds(st.signed_at - st.received_at) : "";
      if (st.status === "signed") {
        const a = document.createElement("a");
        a.href = `/api/studies/${st.id}/report.pdf`;
        a.target = "_blank";
        a.rel = "noopener";
        a.textContent = t("pdf");
        cells[6].append(a);
      }
      tr.append(...cells);
      return tr;
    }));
    $("my-studies-empty").hidden = this.studies.length > 0;
  }

  renderReports() {
    const box = $("reports");
    const entries = [...this.reports.values()].sort((a, b) => b.message.report.signed_at - a.message.report.signed_at);
    box.replaceChildren(...entries.map((e) => reportCard(e, (id) => this.acknowledge(id))));
    $("reports-empty").hidden = entries.length > 0;
    const unacked = entries.filter((e) => e.message.must_acknowledge && !e.acked).length;
    $("reports-alert").hidden = unacked === 0;
    $("reports-alert").textContent = t("critical_pending", { n: unacked });
  }

  wire() {
    $("upload-form").addEventListener("submit", (ev) => this.uploadFiles(ev));
    fillPriorities($("upload-priority"));
  }

  relabel() {
    fillPriorities($("upload-priority"));
    for (const tr of this.sendRows.values()) {
      fillPriorities(tr.querySelector("select"));
      tr.querySelector("input").placeholder = t("clinical_question_ph");
      tr.querySelector("button.send").textContent = t("send_for_reading");
    }
    this.render();
  }
}

function errorReason(err) {
  if (err instanceof ApiError) return err.reason || `HTTP ${err.status}`;
  return t("network_error");
}

/** "已接收 received · #12 · 紧急" and one line per arrival flag (with its reason). */
function receivedLines(study) {
  const head = document.createElement("strong");
  head.className = "received";
  head.dataset.study = String(study.id);
  head.textContent = t("received_ok", { id: study.id, priority: priorityText(study.priority) });
  const out = [head];
  for (const f of study.flags) {
    const p = document.createElement("div");
    p.className = "flag";
    p.textContent = flagText(f);
    out.push(p);
  }
  for (const f of study.auto_findings) {
    const p = document.createElement("div");
    p.className = "flag critical";
    p.textContent = t("auto_finding", { code: f.code, reason: f.reason });
    out.push(p);
  }
  return out;
}

function fillPriorities(select) {
  const value = select.value || "routine";
  select.replaceChildren(...PRIORITIES.map((p) => {
    const o = document.createElement("option");
    o.value = p;
    o.textContent = priorityText(p);
    return o;
  }));
  select.value = value;
}

function sendRow(id, onSend) {
  const tr = document.createElement("tr");
  tr.dataset.id = id;
  const cells = Array.from({ length: 5 }, () => document.createElement("td"));
  cells[0].textContent = id;
  cells[0].className = "mono";
  const select = document.createElement("select");
  select.setAttribute("aria-label", t("priority"));
  fillPriorities(select);
  const input = document.createElement("input");
  input.placeholder = t("clinical_question_ph");
  input.setAttribute("aria-label", t("clinical_question_label"));
  input.maxLength = 2000;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "send primary";
  button.textContent = t("send_for_reading");
  button.addEventListener("click", () => onSend(tr));
  const result = document.createElement("div");
  result.className = "result";
  cells[4].append(select, " ", input, " ", button, result);
  tr.append(...cells);
  return tr;
}

function studyState(st) {
  if (st.acknowledged_at != null) return t("state_acknowledged");
  if (st.delivered_at != null) return t("state_delivered");
  return t(`status_study_${st.status}`);
}

function reportCard(entry, onAck) {
  const { message: m } = entry;
  const st = m.study;
  const r = m.report;
  const card = document.createElement("article");
  card.className = m.must_acknowledge ? "card report-card critical" : "card report-card";
  card.dataset.study = String(st.id);
  card.dataset.version = String(r.version);
  if (entry.shownAt) card.dataset.shownAt = String(entry.shownAt);
  const h = document.createElement("h3");
  h.textContent = t(r.version > 1 ? "report_card_title_amended" : "report_card_title", { id: st.id, v: r.version });
  card.append(h);
  if (m.must_acknowledge) {
    const crit = document.createElement("p");
    crit.className = "critical-banner";
    crit.setAttribute("role", "alert");
    const byCode = new Map(m.statements.map((s) => [s.code, s]));
    crit.textContent = t("critical_banner", {
      codes: r.findings.map((f) => (byCode.has(f.code) ? statementLabel(byCode.get(f.code)) : f.reason || f.code)).join("；"),
    });
    card.append(crit);
  }
  if (r.amend_reason) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = t("amend_reason_shown", { reason: r.amend_reason });
    card.append(p);
  }
  const ul = document.createElement("ul");
  ul.className = "statements";
  for (const s of m.statements) {
    const li = document.createElement("li");
    li.className = s.critical ? "critical" : "";
    li.dataset.code = s.code;
    const zh = document.createElement("span");
    zh.lang = "zh-CN";
    zh.textContent = s.zh || s.en || s.code;
    const en = document.createElement("span");
    en.lang = "en";
    en.className = "en";
    en.textContent = s.en || s.description || "";
    li.append(zh, " ", en);
    ul.append(li);
  }
  card.append(ul);
  if (r.free_text) {
    const p = document.createElement("p");
    p.className = "free-text";
    p.textContent = r.free_text;
    card.append(p);
  }
  const keys = [...MEASUREMENT_KEYS.filter((k) => k in r.measurements),
                ...Object.keys(r.measurements).filter((k) => !MEASUREMENT_KEYS.includes(k))];
  if (keys.length) {
    const dl = document.createElement("dl");
    dl.className = "measurements";
    for (const k of keys) {
      const dt = document.createElement("dt");
      dt.textContent = measurementLabel(k);
      const dd = document.createElement("dd");
      dd.textContent = measurementValue(k, r.measurements[k]);
      dd.dataset.key = k;
      dl.append(dt, dd);
    }
    card.append(dl);
  }
  const meta = document.createElement("p");
  meta.className = "hint report-meta";
  meta.textContent = t("report_meta", {
    reader: m.reader || "", received: formatTime(st.received_at), signed: formatTime(r.signed_at),
    tat: formatSeconds(r.signed_at - st.received_at),
  });
  card.append(meta);
  const actions = document.createElement("div");
  actions.className = "actions";
  const pdf = document.createElement("a");
  pdf.href = `/api/studies/${st.id}/report.pdf?version=${r.version}`;
  pdf.target = "_blank";
  pdf.rel = "noopener";
  pdf.className = "pdf";
  pdf.textContent = t("pdf");
  const ack = document.createElement("button");
  ack.type = "button";
  ack.className = m.must_acknowledge ? "ack primary danger" : "ack primary";
  ack.textContent = entry.acked ? t("acknowledged") : t("acknowledge");
  ack.disabled = entry.acked || Boolean(entry.acking);
  ack.addEventListener("click", () => onAck(st.id));
  const state = document.createElement("span");
  state.className = "delivery";
  state.textContent = entry.acked ? t("state_acknowledged") : entry.receipt ? t("state_delivered") : t("state_delivering");
  actions.append(ack, " ", pdf, " ", state);
  if (entry.error) {
    const e = document.createElement("span");
    e.className = "error";
    e.textContent = entry.error;
    actions.append(" ", e);
  }
  card.append(actions);
  return card;
}
