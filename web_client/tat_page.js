// tat_page.js: turnaround times (#/tat, GET /api/tat): percentiles of
// received → signed per county, reader and day against the target, and every
// breach listed. The period defaults to the last 7 days.

import { api, Unauthorized } from "./api.js";
import { formatTime } from "./format.js";
import { applyI18n, t } from "./i18n.js";
import { formatSeconds, priorityText } from "./reading_format.js";

const $ = (id) => document.getElementById(id);
const STATS = ["studies", "signed", "within_target", "breaches", "tat_p50_s", "tat_p90_s", "tat_p95_s", "tat_max_s",
               "claim_p50_s", "delivery_p50_s"];

function isoDay(d) {
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 10);
}

export class TatPage {
  /** org(): the user's organisation ({id, name}; a county reader's is the county). */
  constructor({ onUnauthorized, org = () => null }) {
    this.onUnauthorized = onUnauthorized;
    this.org = org;
    this.data = null;
    this.generation = 0;
    const now = new Date();
    $("tat-until").value = isoDay(now);
    $("tat-since").value = isoDay(new Date(now.getTime() - 6 * 86400000));
    for (const id of ["tat-overall", "tat-county", "tat-reader", "tat-day"]) {
      const tr = document.createElement("tr");
      for (const key of ["tat_group", ...STATS.map((k) => `tat_col_${k}`)]) {
        const th = document.createElement("th");
        th.scope = "col";
        th.dataset.i18n = key;
        tr.append(th);
      }
      $(id).tHead.replaceChildren(tr);
      applyI18n($(id));
    }
    $("tat-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.load();
    });
  }

  start() {
    this.load();
  }

  stop() {
    this.generation += 1;
  }

  async load() {
    const generation = ++this.generation;
    const since = new Date(`${$("tat-since").value}T00:00:00`).getTime() / 1000;
    const until = new Date(`${$("tat-until").value}T00:00:00`).getTime() / 1000 + 86400;
    try {
      const q = new URLSearchParams();
      if (Number.isFinite(since)) q.set("since", String(since));
      if (Number.isFinite(until)) q.set("until", String(until));
      const data = await api(`/api/tat?${q}`);
      if (generation !== this.generation) return;
      this.data = data;
      $("tat-error").hidden = true;
      this.render();
    } catch (err) {
      if (generation !== this.generation) return;
      if (err instanceof Unauthorized) return this.onUnauthorized();
      $("tat-error").textContent = t("network_error");
      $("tat-error").hidden = false;
    }
  }

  render() {
    const d = this.data;
    if (!d) return;
    const target = d.target_s;
    $("tat-summary").textContent = t("tat_summary", {
      target: formatSeconds(target), timezone: d.timezone, method: d.percentile_method,
      since: formatTime(d.since), until: formatTime(d.until),
    });
    const groups = [
      ["tat-overall", [{ ...d.overall, _name: t("tat_all") }]],
      ["tat-county", d.by_county.map((g) => ({
        ...g, _name: this.org()?.id === g.county_id ? this.org().name : t("county_n", { id: g.county_id }),
      }))],
      ["tat-reader", d.by_reader.map((g) => ({ ...g, _name: g.reader || (g.reader_id == null ? t("tat_unclaimed") : `#${g.reader_id}`) }))],
      ["tat-day", d.by_day.map((g) => ({ ...g, _name: g.day }))],
    ];
    for (const [id, rows] of groups) {
      $(id).tBodies[0].replaceChildren(...rows.map((g) => statsRow(g, target)));
    }
    const tbody = $("tat-breaches").tBodies[0];
    tbody.replaceChildren(...d.breaches.map((b) => {
      const tr = document.createElement("tr");
      tr.dataset.study = String(b.study_id);
      const values = [`#${b.study_id}`, priorityText(b.priority), b.reader_id == null ? "" : `#${b.reader_id}`,
                      formatTime(b.received_at), b.signed_at == null ? t("not_signed") : formatTime(b.signed_at),
                      formatSeconds(b.tat_s ?? b.waiting_s)];
      for (const v of values) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      tr.cells[5].className = "overdue";
      return tr;
    }));
    $("tat-no-breaches").hidden = d.breaches.length > 0;
  }
}

function statsRow(g, target) {
  const tr = document.createElement("tr");
  const name = document.createElement("th");
  name.scope = "row";
  name.textContent = g._name;
  tr.append(name);
  for (const key of STATS) {
    const td = document.createElement("td");
    const v = g[key];
    td.dataset.key = key;
    if (key.endsWith("_s")) {
      td.textContent = v == null ? "–" : formatSeconds(v);
      if (key.startsWith("tat_") && v != null && v > target) td.className = "overdue";
    } else {
      td.textContent = v == null ? "–" : String(v);
      if (key === "breaches" && v > 0) td.className = "overdue";
    }
    tr.append(td);
  }
  return tr;
}
