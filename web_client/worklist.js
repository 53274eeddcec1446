// worklist.js: the county reader's worklist (#/worklist): unsigned studies of
// the county, STAT → urgent → routine, longest waiting first (the server's
// order); waiting time against the 3-minute target, ticking every second, the
// overdue ones marked; claim (a conflict says who is reading it) and open;
// admins release a reader's lock.
// Refreshed on every worklist notice (notify socket) and every 10 s.

import { api, ApiError, Unauthorized } from "./api.js";
import { formatTime } from "./format.js";
import { t } from "./i18n.js";
import { flagText, priorityBadge, readerName, waitingText } from "./reading_format.js";
import { errorText } from "./study_view.js";

export const REFRESH_MS = 10_000;
const $ = (id) => document.getElementById(id);

export class Worklist {
  constructor({ me, onUnauthorized }) {
    this.me = me;
    this.onUnauthorized = onUnauthorized;
    this.studies = [];
    this.fetchedAt = 0;
    this.errors = new Map(); // study id -> error shown in its row
    this.timer = null;
    this.ticker = null;
    this.generation = 0;
    this.active = false;
  }

  start() {
    this.stop();
    this.active = true;
    this.refresh();
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  stop() {
    this.active = false;
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    this.generation += 1;
  }

  /** A worklist notice arrived: refresh now. */
  poke() {
    if (this.active) {
      clearTimeout(this.timer);
      this.refresh();
    }
  }

  async refresh() {
    const generation = this.generation;
    try {
      const body = await api("/api/worklist");
      if (generation !== this.generation) return;
      this.studies = body.studies;
      this.fetchedAt = performance.now();
      $("worklist-error").hidden = true;
      this.render();
    } catch (err) {
      if (generation !== this.generation) return;
      if (err instanceof Unauthorized) {
        this.stop();
        this.onUnauthorized();
        return;
      }
      $("worklist-error").textContent = t("network_error");
      $("worklist-error").hidden = false;
    }
    this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  async claim(study) {
    try {
      await api(`/api/studies/${study.id}/claim`, { method: "POST" });
      this.errors.delete(study.id);
      location.hash = `#/study/${study.id}`;
    } catch (err) {
      if (err instanceof Unauthorized) {
        this.onUnauthorized();
        return;
      }
      this.errors.set(study.id, err instanceof ApiError ? { status: err.status, reason: err.reason } : { reason: String(err) });
      this.poke();
      this.render();
    }
  }

  /** An admin releases whoever holds the study. */
  async release(study) {
    try {
      await api(`/api/studies/${study.id}/release`, { method: "POST" });
      this.errors.delete(study.id);
    } catch (err) {
      if (err instanceof Unauthorized) {
        this.onUnauthorized();
        return;
      }
      this.errors.set(study.id, err instanceof ApiError ? { status: err.status, reason: err.reason } : { reason: String(err) });
    }
    this.poke();
    this.render();
  }

    extraS() {
    return this.fetchedAt ? (performance.now() - this.fetchedAt) / 1000 : 0;
  }

  /** Waiting times move on between refreshes. */
  tick() {
    const extra = this.extraS();
    for (const tr of $("worklist").tBodies[0].rows) {
      const st = this.studies.find((s) => String(s.id) === tr.dataset.id);
      if (!st) continue;
      const cell = tr.cells[4];
      cell.textContent = waitingText(st, extra);
      const overdue = Number(st.waiting_s) + extra > Number(st.target_s);
      tr.classList.toggle("overdue", overdue);
      cell.classList.toggle("overdue", overdue);
    }
  }

  render() {
    const tbody = $("worklist").tBodies[0];
    const me = this.me();
    const extra = this.extraS();
    tbody.replaceChildren(...this.studies.map((st) => {
      const tr = document.createElement("tr");
      tr.dataset.id = String(st.id);
      const overdue = Number(st.waiting_s) + extra > Number(st.target_s);
      tr.classList.toggle("overdue", overdue);
      const cells = Array.from({ length: 7 }, () => document.createElement("td"));
      cells[0].append(priorityBadge(st.priority));
      if (st.requested_priority !== st.priority) {
        const raised = document.createElement("span");
        raised.className = "hint";
        raised.textContent = ` ${t("priority_raised")}`;
        cells[0].append(raised);
      }
      cells[1].textContent = `#${st.id}`;
      cells[1].title = st.recording_id;
      cells[2].textContent = [t(`source_${st.source}`), st.note ? t("clinical_question", { note: st.note }) : ""].filter(Boolean).join(" · ");
      const flags = [...st.flags.map(flagText), ...st.auto_findings.map((f) => t("auto_finding", { code: f.code, reason: f.reason }))];
      if (flags.length) {
        const p = document.createElement("div");
        p.className = "flags";
        p.textContent = flags.join("；");
        cells[2].append(p);
      }
      cells[3].textContent = formatTime(st.received_at);
      cells[4].textContent = waitingText(st, extra);
      cells[4].classList.toggle("overdue", overdue);
      const mine = me && st.claimed_by === me.id;
      cells[5].textContent = st.claimed_by == null ? t("lock_free") : mine ? t("lock_mine") : t("lock_other", { reader: readerName(st) });
      cells[5].className = st.claimed_by == null ? "" : mine ? "lock mine" : "lock other";
      const claim = document.createElement("button");
      claim.type = "button";
      claim.className = "claim primary";
      claim.textContent = mine ? t("continue_reading") : t("claim");
      claim.addEventListener("click", () => (mine ? (location.hash = `#/study/${st.id}`) : this.claim(st)));
      const view = document.createElement("button");
      view.type = "button";
      view.className = "view";
      view.textContent = t("view");
      view.addEventListener("click", () => {
        location.hash = `#/study/${st.id}`;
      });
      // Admins do not read (docs/reporting.md): they look, release a lock here, assign in the viewer.
      if (me?.role === "county_reader") cells[6].append(claim, " ");
      cells[6].append(view);
      if (me?.role === "admin" && st.claimed_by != null) {
        const release = document.createElement("button");
        release.type = "button";
        release.className = "release";
        release.textContent = t("admin_release");
        release.addEventListener("click", () => this.release(st));
        cells[6].append(" ", release);
      }
      const err = this.errors.get(st.id);
      if (err) {
        const p = document.createElement("p");
        p.className = "row-error";
        p.setAttribute("role", "alert");
        p.textContent = errorText(err, st);
        cells[6].append(p);
      }
      tr.append(...cells);
      return tr;
    }));
    $("worklist-empty").hidden = this.studies.length > 0;
    const overdue = this.studies.filter((s) => Number(s.waiting_s) + extra > Number(s.target_s)).length;
    $("worklist-summary").textContent = t("worklist_summary", { n: this.studies.length, overdue });
  }
}
