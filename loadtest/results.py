"""Merging the workers' reports into one run's results, and the figures drawn from them.

Windows of the same index add up across workers; latency histograms merge bucket by
bucket, so percentiles are those of all samples. ``summarize`` gives the flat metrics
that the table prints and thresholds (``--fail-if``) compare; their names are
:data:`METRICS`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from loadtest.clinic import ClinicResult
from loadtest.histogram import LatencyHistogram
from loadtest.metrics import DeviceOutcome, Window, WorkerResult
from loadtest.resources import ProcessSeries

#: Every metric of a run's summary, with what it means (``--fail-if`` accepts these names).
METRICS: dict[str, str] = {
    "devices_max": "most devices streaming at once",
    "recordings": "recordings streamed (a device slot that leaves and rejoins starts a new one)",
    "duration_s": "length of the load profile",
    "frames_sent": "data frames the devices sent",
    "frames_per_s": "data frames sent per second, after the warm-up",
    "frames_acked": "data frames the server acknowledged",
    "connect_p50_ms": "device connect + hello until the welcome, median",
    "connect_max_ms": "device connect + hello until the welcome, slowest",
    "ack_p50_ms": "device→ack latency, median", "ack_p95_ms": "device→ack latency, 95th percentile",
    "ack_p99_ms": "device→ack latency, 99th percentile", "ack_max_ms": "device→ack latency, maximum",
    "reader_p50_ms": "device→reader latency, median", "reader_p95_ms": "device→reader latency, 95th percentile",
    "reader_p99_ms": "device→reader latency, 99th percentile", "reader_max_ms": "device→reader latency, maximum",
    "samples_sent": "samples per lead the devices sent", "samples_acked": "samples the server acknowledged",
    "samples_stored": "samples the server returns for the recordings (its WFDB export)",
    "lost_samples": "samples sent but not stored identically, or acknowledged but not stored (must be 0; "
                    "no value if a recording could not be checked)",
    "unacked_samples": "samples sent that were never acknowledged",
    "reader_frames_missed": "frames a reader never got after its first one (must be 0)",
    "reader_gap_frames": "display frames the server dropped for slow readers",
    "errors": "device and reader errors (refusals, unexpected closes, failed connects)",
    "server_cpu_pct": "CPU of all server processes over the profile (100 = one core)",
    "server_cpu_pct_node_max": "CPU of the busiest server process over the profile",
    "server_rss_mib_max": "largest resident memory of a server process",
    "loadgen_cpu_pct_max": "CPU of the busiest load-generator worker (near 100: the generator was the limit)",
    "server_ready_s": "slowest server start-up until ready (servers this run started)",
    # report and consult traffic (--reports-per-min, --consults); no value without it
    "reports_sent": "ECGs the village doctor uploaded for reading",
    "reports_delivered": "signed reports that reached the village doctor's screen (its notify socket)",
    "reports_undelivered": "ECGs sent whose report never reached the doctor by the end of the drain (must be 0)",
    "report_upload_p99_ms": "ECG upload (10 s, 12 leads) until the server's answer, 99th percentile",
    "report_notice_p99_ms": "upload until the study is on the county readers' worklist (their socket), p99",
    "report_push_p50_ms": "reader signs until the report is on the village doctor's screen, median",
    "report_push_p99_ms": "reader signs until the report is on the village doctor's screen, 99th percentile",
    "report_push_max_ms": "reader signs until the report is on the village doctor's screen, slowest",
    "report_tat_p50_s": "turnaround: upload until the report is on the doctor's screen (reading time included), "
                        "median",
    "report_tat_max_s": "turnaround, slowest",
    "consults_held": "consults that went request → in_call → held → ended without an error",
    "consult_failures": "consults that failed (refused, timed out, or an error on a signalling socket)",
    "consult_setup_p50_ms": "consult request until both sides are in_call (signalling only), median",
    "consult_setup_p99_ms": "consult request until both sides are in_call (signalling only), 99th percentile",
    "consult_relay_p99_ms": "signalling message from one side to the other through the server(s), p99",
    "consult_probes_lost": "signalling probes sent during held consults that never arrived (must be 0)",
}
PERCENTILES = (50, 95, 99)


def merge_windows(per_worker: Iterable[Iterable[Window]]) -> list[Window]:
    """One window per index, every worker's window of that index added in."""
    merged: dict[int, Window] = {}
    for windows in per_worker:
        for window in windows:
            if window.index in merged:
                merged[window.index].merge(window)
            else:
                copy = Window.from_json(window.to_json())
                merged[window.index] = copy
    return [merged[i] for i in sorted(merged)]


def merge_workers(results: Iterable[WorkerResult]) -> tuple[list[DeviceOutcome], Counter[str]]:
    devices: list[DeviceOutcome] = []
    kinds: Counter[str] = Counter()
    for result in results:
        devices += result.devices
        kinds.update(result.error_kinds)
    devices.sort(key=lambda d: (d.slot, d.started_s))
    return devices, kinds


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class RunResult:
    """One run (one step): configuration, merged windows, devices, resources and summary."""

    label: str
    config: dict[str, Any]
    windows: list[Window]
    devices: list[DeviceOutcome]
    error_kinds: Counter[str]
    resources: list[ProcessSeries]
    summary: dict[str, float | int | None] = field(default_factory=dict)
    breaches: list[str] = field(default_factory=list)
    sustained: bool = False
    clinic: ClinicResult | None = None  # report and consult traffic, when there was some

    def latency(self, which: str, warmup_s: float = 0.0) -> LatencyHistogram:
        """All ``which`` ("ack" or "reader") latencies from ``warmup_s`` on, merged."""
        return LatencyHistogram.merged(getattr(w, which) for w in self.windows if w.t_s >= warmup_s)

    def to_json(self) -> dict[str, Any]:
        warmup = float(self.config.get("warmup_s", 0.0))
        windows = []
        for w in self.windows:
            row = w.to_json()
            for which in ("ack", "reader"):
                h = getattr(w, which)
                for q in PERCENTILES:
                    row[f"{which}_p{q}_ms"] = _round(h.percentile_ms(q), 2)
            windows.append(row)
        return {
            "label": self.label, "config": self.config, "summary": self.summary, "sustained": self.sustained,
            "breaches": self.breaches, "errors_by_kind": dict(self.error_kinds),
            "latency_histograms": {which: self.latency(which, warmup).to_json() for which in ("ack", "reader")},
            "windows": windows, "resources": [r.to_json() for r in self.resources],
            "devices": [d.to_json() for d in self.devices],
            "clinic": None if self.clinic is None else self.clinic.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        return cls(str(data["label"]), dict(data["config"]), [Window.from_json(w) for w in data["windows"]],
                   [DeviceOutcome.from_json(d) for d in data["devices"]], Counter(data["errors_by_kind"]),
                   [ProcessSeries.from_json(r) for r in data["resources"]], dict(data["summary"]),
                   list(data["breaches"]), bool(data["sustained"]),
                   ClinicResult.from_json(data["clinic"]) if data.get("clinic") else None)


def summarize(run: RunResult, duration_s: float, warmup_s: float = 0.0,
              server_ready_s: float | None = None) -> dict[str, float | int | None]:
    """The flat metrics of :data:`METRICS` for ``run``."""
    ack, reader = run.latency("ack", warmup_s), run.latency("reader", warmup_s)
    steady = [w for w in run.windows if warmup_s <= w.t_s < duration_s]
    steady_s = max(1e-9, duration_s - warmup_s)
    devices = run.devices
    servers = [r for r in run.resources if r.role == "server"]
    workers = [r for r in run.resources if r.role == "worker"]
    server_cpu = [r.cpu_pct_between(warmup_s, duration_s) for r in servers]
    known_cpu = [c for c in server_cpu if c is not None]
    loadgen = [c for c in (r.cpu_pct_between(warmup_s, duration_s) for r in workers) if c is not None]
    stored = [d.samples_stored for d in devices]
    unchecked = any(s is None for s in stored)  # then loss is unknown, not 0
    out: dict[str, float | int | None] = {
        "devices_max": max((w.devices_streaming for w in run.windows), default=0),
        "recordings": len(devices),
        "duration_s": duration_s,
        "frames_sent": sum(d.frames_sent for d in devices),
        "frames_per_s": round(sum(w.frames_sent for w in steady) / steady_s, 1),
        "frames_acked": sum(d.frames_acked for d in devices),
    }
    connects = sorted(d.connect_ms for d in devices if d.connect_ms is not None)
    out["connect_p50_ms"] = connects[(len(connects) - 1) // 2] if connects else None
    out["connect_max_ms"] = connects[-1] if connects else None
    for name, h in (("ack", ack), ("reader", reader)):
        for q in PERCENTILES:
            out[f"{name}_p{q}_ms"] = _round(h.percentile_ms(q))
        out[f"{name}_max_ms"] = _round(h.max_ms if h.count else None)
    out.update({
        "samples_sent": sum(d.samples_sent for d in devices),
        "samples_acked": sum(d.samples_acked for d in devices),
        "samples_stored": None if unchecked else sum(s for s in stored if s is not None),
        "lost_samples": None if unchecked else sum(d.lost_samples for d in devices),
        "unacked_samples": sum(d.samples_sent - d.samples_acked for d in devices),
        "reader_frames_missed": sum(d.reader_frames_missed for d in devices),
        "reader_gap_frames": sum(d.reader_gap_frames for d in devices),
        "errors": sum(run.error_kinds.values()),
        "server_cpu_pct": _round(sum(known_cpu)) if known_cpu else None,
        "server_cpu_pct_node_max": _round(max(known_cpu)) if known_cpu else None,
        "server_rss_mib_max": _round(max((r.rss_max_mib() or 0.0 for r in servers), default=None)),
        "loadgen_cpu_pct_max": _round(max(loadgen)) if loadgen else None,
        "server_ready_s": _round(server_ready_s, 2),
    })
    out.update(_clinic_summary(run.clinic))
    return out


def _clinic_summary(clinic: ClinicResult | None) -> dict[str, float | int | None]:
    """The report and consult metrics: no value for traffic the run did not have."""
    out: dict[str, float | int | None] = dict.fromkeys(k for k in METRICS if k.startswith(("report", "consult")))
    if clinic is not None and clinic.reports_per_min > 0:
        sent = clinic.reports_sent
        out.update({
            "reports_sent": sent, "reports_delivered": clinic.reports_delivered,
            "reports_undelivered": sent - min(sent, clinic.reports_delivered),
            "report_upload_p99_ms": _round(clinic.upload.percentile_ms(99)),
            "report_notice_p99_ms": _round(clinic.notice.percentile_ms(99)),
            "report_push_p50_ms": _round(clinic.push.percentile_ms(50)),
            "report_push_p99_ms": _round(clinic.push.percentile_ms(99)),
            "report_push_max_ms": _round(clinic.push.max_ms if clinic.push.count else None),
            "report_tat_p50_s": _round(_s(clinic.tat.percentile_ms(50)), 2),
            "report_tat_max_s": _round(_s(clinic.tat.max_ms if clinic.tat.count else None), 2),
        })
    if clinic is not None and clinic.consults > 0:
        out.update({
            "consults_held": clinic.consults_held,
            "consult_failures": clinic.consults_started - clinic.consults_held,
            "consult_setup_p50_ms": _round(clinic.setup.percentile_ms(50)),
            "consult_setup_p99_ms": _round(clinic.setup.percentile_ms(99)),
            "consult_relay_p99_ms": _round(clinic.relay.percentile_ms(99)),
            "consult_probes_lost": clinic.probes_sent - clinic.probes_received,
        })
    return out


def _s(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


def is_sustained(summary: dict[str, float | int | None], p99_ms: float, latency: str = "reader_p99_ms") -> bool:
    """Within the p99 bound (device→reader; device→ack for runs without readers), nothing lost, missed or failed
    (with report and consult traffic: every report delivered, every consult held, every probe arrived)."""
    p99 = summary.get(latency)
    clinic_ok = all(summary.get(k) in (None, 0) for k in ("reports_undelivered", "consult_failures",
                                                           "consult_probes_lost"))
    return (p99 is not None and p99 <= p99_ms and summary.get("lost_samples") == 0
            and summary.get("reader_frames_missed") == 0 and summary.get("errors") == 0
            and summary.get("samples_stored") is not None and clinic_ok)


__all__ = ["METRICS", "RunResult", "merge_windows", "merge_workers", "summarize", "is_sustained"]
