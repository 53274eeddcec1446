// recordings_list.js: the table of recordings, refreshed every 2 s, live ones
// first. A row (or its button, for keyboard users) opens #/recording/<id>.

import { listRecordings, Unauthorized } from "./api.js";
import { formatDuration, formatTime, nameOf, statusText, toMs } from "./format.js";
import { t } from "./i18n.js";

export const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);

export const isLive = (r) => Boolean(r.connected) || String(r.status) === "live";

/** Connected first, then live, then newest. */
export function sortRecordings(list) {
  const started = (r) => {
    const ms = toMs(r.started_at);
    return Number.isFinite(ms) ? ms : 0;
  };
  return list.slice().sort(
    (a, b) =>
      Number(Boolean(b.connected)) - Number(Boolean(a.connected)) ||
      Number(isLive(b)) - Number(isLive(a)) ||
      started(b) - started(a),
  );
}

/** Duration stored, or for a live recording (whose n_samples lags) the time since it started. */
export function duration(r, now = Date.now()) {
  const n = Number(r.n_samples);
  if (n > 0 || !isLive(r)) return formatDuration(n, Number(r.fs_hz));
  const started = toMs(r.started_at);
  return Number.isFinite(started) ? formatDuration(Math.max(0, (now - started) / 1000), 1) : "";
}

export class RecordingsList {
  /** onUnauthorized(): the session expired while polling. */
  constructor({ onUnauthorized }) {
    this.onUnauthorized = onUnauthorized;
    this.timer = null;
    this.generation = 0; // answers from an earlier start() are ignored
    this.recordings = [];
    this.rows = new Map(); // id -> <tr>
  }

  start() {
    this.stop();
    this.refresh();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.generation += 1;
  }

  async refresh() {
    const generation = this.generation;
    const error = $("list-error");
    try {
      const recordings = await listRecordings();
      if (generation !== this.generation) return;
      this.recordings = recordings;
      error.hidden = true;
      this.render();
    } catch (err) {
      if (generation !== this.generation) return;
      if (err instanceof Unauthorized) {
        this.stop();
        this.onUnauthorized();
        return;
      }
      error.textContent = t("network_error");
      error.hidden = false;
    }
    this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  /** Update rows in place, so keyboard focus survives the refreshes. */
  render() {
    const tbody = $("recordings").querySelector("tbody");
    const sorted = sortRecordings(this.recordings);
    const seen = new Set();
    sorted.forEach((r, pos) => {
      const id = String(r.id);
      seen.add(id);
      let tr = this.rows.get(id);
      if (!tr) {
        tr = makeRow(id);
        this.rows.set(id, tr);
      }
      fillRow(tr, r);
      if (tbody.children[pos] !== tr) tbody.insertBefore(tr, tbody.children[pos] ?? null);
    });
    for (const [id, tr] of this.rows) {
      if (!seen.has(id)) {
        tr.remove();
        this.rows.delete(id);
      }
    }
    $("no-recordings").hidden = sorted.length > 0;
    $("recordings").hidden = sorted.length === 0;
  }
}

function makeRow(id) {
  const tr = document.createElement("tr");
  tr.dataset.id = id;
  for (let k = 0; k < 8; k++) tr.appendChild(document.createElement("td"));
  const button = document.createElement("button");
  button.type = "button";
  button.className = "open";
  button.textContent = id;
  tr.cells[0].appendChild(button);
  tr.addEventListener("click", () => {
    location.hash = `#/recording/${encodeURIComponent(id)}`;
  });
  return tr;
}

function fillRow(tr, r) {
  const live = isLive(r);
  tr.classList.toggle("is-live", live);
  const leads = Array.isArray(r.leads) ? r.leads : [];
  const c = tr.cells;
  c[0].firstChild.setAttribute("aria-label", t("open_recording", { id: r.id }));
  c[1].textContent = nameOf(r.org ?? r.organisation);
  c[2].textContent = String(leads.length || "");
  c[2].title = leads.join(" ");
  c[3].textContent = r.fs_hz != null ? `${Number(r.fs_hz)} Hz` : "";
  c[4].replaceChildren(badge(statusText(r.status), live));
  c[5].replaceChildren(connected(Boolean(r.connected)));
  c[6].textContent = formatTime(r.started_at);
  c[7].textContent = duration(r);
}

function badge(text, live) {
  const span = document.createElement("span");
  span.className = live ? "badge live" : "badge";
  span.textContent = text;
  return span;
}

function connected(on) {
  const frag = document.createDocumentFragment();
  const dot = document.createElement("span");
  dot.className = on ? "dot on" : "dot";
  dot.setAttribute("aria-hidden", "true");
  frag.append(dot, on ? t("yes") : t("no"));
  return frag;
}
