"""Workers' results merged in the parent: histograms add up, percentiles are of all samples."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from loadtest.clinic import ClinicResult
from loadtest.histogram import GROWTH, LatencyHistogram
from loadtest.metrics import DeviceOutcome, Window, WorkerResult
from loadtest.resources import ProcessSeries
from loadtest.results import RunResult, is_sustained, merge_windows, merge_workers, summarize


def hist(values_ms: np.ndarray) -> LatencyHistogram:
    h = LatencyHistogram()
    h.record_many_s((values_ms / 1000.0).tolist())
    return h


@pytest.mark.parametrize("q", [1, 50, 90, 95, 99, 99.9, 100])
def test_percentiles_are_within_the_bucket_width(q: float) -> None:
    values = np.random.default_rng(7).lognormal(mean=3.0, sigma=1.0, size=50_000)  # ms
    exact = float(np.percentile(values, q, method="inverted_cdf"))
    got = hist(values).percentile_ms(q)
    assert got is not None
    assert abs(got - exact) / exact <= (GROWTH - 1) / 2 + 1e-9


def test_merging_worker_histograms_equals_one_histogram_of_all_samples() -> None:
    rng = np.random.default_rng(3)
    fast = rng.normal(10, 1, 9_000).clip(0.1)  # a worker on a quiet node
    slow = rng.normal(200, 20, 1_000).clip(0.1)  # a worker whose node is overloaded
    merged = LatencyHistogram.merged([hist(fast), hist(slow)])
    whole = hist(np.concatenate([fast, slow]))
    assert merged.counts == whole.counts and merged.count == 10_000
    assert merged.min_ms == whole.min_ms and merged.max_ms == whole.max_ms
    assert merged.sum_ms == pytest.approx(whole.sum_ms)
    p99 = merged.percentile_ms(99)
    assert p99 is not None and 150 < p99 < 260  # the slow worker's tail, as it really is
    averaged = (hist(fast).percentile_ms(99) or 0) / 2 + (hist(slow).percentile_ms(99) or 0) / 2
    assert abs(averaged - p99) > 50  # what averaging percentiles would have claimed instead


def test_histograms_survive_json_and_empty_ones_have_no_percentiles() -> None:
    h = hist(np.array([0.001, 1.0, 2.0, 3.5, 1000.0]))
    back = LatencyHistogram.from_json(json.loads(json.dumps(h.to_json())))
    assert back.counts == h.counts and back.percentile_ms(50) == h.percentile_ms(50)
    empty = LatencyHistogram.from_json(LatencyHistogram().to_json())
    assert empty.percentile_ms(99) is None and empty.cdf() == [] and empty.mean_ms() is None
    assert LatencyHistogram.merged([empty, h]).count == 5


def window(index: int, sent: int, acked_ms: list[float], reader_ms: list[float], devices: int = 2,
           errors: int = 0) -> Window:
    w = Window(index, 1.0, devices, devices, sent, sent, len(reader_ms), 0, 0, errors)
    w.ack.record_many_s([v / 1000 for v in acked_ms])
    w.reader.record_many_s([v / 1000 for v in reader_ms])
    return w


def outcome(slot: int, frames: int, stored: int | None, lost: int = 0, missed: int = 0) -> DeviceOutcome:
    return DeviceOutcome(slot, f"rec-{slot:05d}", 0, [0], 0.0, ended_s=2.0, connect_ms=5.0 + slot,
                         frames_sent=frames, frames_acked=frames, samples_sent=frames * 20,
                         samples_acked=frames * 20, samples_stored=stored, lost_samples=lost,
                         reader_frames_expected=frames - 1, reader_frames_missed=missed)


def test_windows_of_the_same_index_add_up_across_workers() -> None:
    worker_a = [window(0, 50, [10, 12], [5]), window(1, 50, [11], [6, 7])]
    worker_b = [window(0, 40, [100], [90], errors=1), window(2, 10, [], [], devices=0)]
    merged = merge_windows([worker_a, worker_b])
    assert [w.index for w in merged] == [0, 1, 2]
    assert [w.frames_sent for w in merged] == [90, 50, 10]
    assert [w.devices_streaming for w in merged] == [4, 2, 0]
    assert merged[0].ack.count == 3 and merged[0].reader.count == 2 and merged[0].errors == 1
    assert merged[0].ack.max_ms == pytest.approx(100)
    assert worker_a[0].ack.count == 2  # the workers' own windows are left as they were


def test_worker_results_merge_into_one_summary() -> None:
    a = WorkerResult(0, [outcome(0, 100, 2000), outcome(2, 100, 2000)], Counter())
    b = WorkerResult(1, [outcome(1, 100, 1980, lost=20, missed=3)], Counter({"reader close 4010": 1}))
    a, b = WorkerResult.from_json(json.loads(json.dumps(a.to_json()))), WorkerResult.from_json(b.to_json())
    devices, kinds = merge_workers([b, a])
    assert [d.slot for d in devices] == [0, 1, 2]
    assert kinds == Counter({"reader close 4010": 1})
    windows = merge_windows([[window(0, 100, [10] * 100, [5] * 100)], [window(0, 50, [30] * 50, [8] * 50)],
                             [window(1, 150, [20] * 150, [6] * 150)]])
    servers = ProcessSeries(1, "node-0", "server", [(0.0, 10.0, 100.0), (2.0, 11.0, 120.0)])
    worker = ProcessSeries(2, "worker-0", "worker", [(0.0, 1.0, 50.0), (2.0, 1.2, 50.0)])
    run = RunResult("3 devices", {"warmup_s": 0.0}, windows, devices, kinds, [servers, worker])
    s = summarize(run, duration_s=2.0, server_ready_s=0.7)
    assert s["recordings"] == 3 and s["frames_sent"] == 300 and s["frames_per_s"] == 150.0
    assert s["samples_sent"] == 6000 and s["samples_stored"] == 5980 and s["lost_samples"] == 20
    assert s["reader_frames_missed"] == 3 and s["errors"] == 1
    assert s["ack_p50_ms"] == pytest.approx(20, rel=0.01) and s["ack_max_ms"] == pytest.approx(30)
    assert s["server_cpu_pct"] == 50.0 and s["server_rss_mib_max"] == 120.0 and s["loadgen_cpu_pct_max"] == 10.0
    assert s["server_ready_s"] == 0.7 and s["connect_p50_ms"] == 6.0 and s["connect_max_ms"] == 7.0
    assert not is_sustained(s, p99_ms=100)
    # and the whole run survives its JSON form
    back = RunResult.from_json(json.loads(json.dumps(run.to_json())))
    assert back.latency("ack").counts == run.latency("ack").counts
    assert summarize(back, 2.0, server_ready_s=0.7) == s


def test_a_clean_run_is_sustained_and_an_unchecked_one_is_not() -> None:
    devices = [outcome(0, 50, 1000), outcome(1, 50, 1000)]
    run = RunResult("x", {}, [window(0, 100, [10] * 100, [5] * 100)], devices, Counter(), [])
    s = summarize(run, duration_s=1.0)
    assert s["lost_samples"] == 0 and is_sustained(s, p99_ms=100) and not is_sustained(s, p99_ms=4)
    devices[1].samples_stored = None  # its export could not be fetched
    s = summarize(run, duration_s=1.0)
    assert s["samples_stored"] is None and s["lost_samples"] is None and not is_sustained(s, p99_ms=100)


def test_warm_up_windows_are_left_out_of_the_figures() -> None:
    run = RunResult("x", {}, [window(0, 100, [500] * 100, [400] * 100), window(1, 100, [10] * 100, [5] * 100)],
                    [outcome(0, 200, 4000)], Counter(), [])
    assert summarize(run, 2.0)["ack_p99_ms"] == pytest.approx(500, rel=0.01)
    steady = summarize(run, 2.0, warmup_s=1.0)
    assert steady["ack_p99_ms"] == pytest.approx(10, rel=0.01) and steady["frames_per_s"] == 100.0


def clinic(**kw: object) -> ClinicResult:
    result = ClinicResult(reports_per_min=30.0, read_s=2.0, consults=2)
    for value_s in (2.1, 2.2, 2.4):
        result.tat.record_s(value_s)
    for value_s in (0.010, 0.020, 0.200):
        result.push.record_s(value_s)
    result.setup.record_s(0.05)
    result.reports_sent, result.reports_delivered = 4, 3
    result.consults_started, result.consults_held = 3, 2
    result.probes_sent, result.probes_received = 10, 9
    for key, value in kw.items():
        setattr(result, key, value)
    return result


def test_report_and_consult_figures_have_no_value_without_that_traffic() -> None:
    run = RunResult("x", {}, [window(0, 100, [10] * 100, [5] * 100)], [outcome(0, 100, 2000)], Counter(), [])
    s = summarize(run, duration_s=1.0)
    clinic_keys = [k for k in s if k.startswith(("report", "consult"))]
    assert len(clinic_keys) == 16 and all(s[k] is None for k in clinic_keys)
    assert is_sustained(s, p99_ms=100)
    run.clinic = clinic(consults=0)  # reports only: the consult figures stay empty
    s = summarize(run, duration_s=1.0)
    assert s["reports_sent"] == 4 and s["consults_held"] is None and s["consult_probes_lost"] is None


def test_an_undelivered_report_or_a_lost_probe_means_not_sustained() -> None:
    run = RunResult("x", {}, [window(0, 100, [10] * 100, [5] * 100)], [outcome(0, 100, 2000)], Counter(), [],
                    clinic=clinic())
    s = summarize(run, duration_s=1.0)
    assert s["reports_undelivered"] == 1 and s["consult_failures"] == 1 and s["consult_probes_lost"] == 1
    assert s["report_tat_p50_s"] == pytest.approx(2.2, rel=0.01) and s["report_tat_max_s"] == pytest.approx(2.4)
    assert s["report_push_p99_ms"] == pytest.approx(200, rel=0.01) and s["report_push_max_ms"] == pytest.approx(200)
    assert not is_sustained(s, p99_ms=100)
    run.clinic = clinic(reports_delivered=4, consults_held=3, probes_received=10)
    s = summarize(run, duration_s=1.0)
    assert s["reports_undelivered"] == 0 and s["consult_failures"] == 0 and s["consult_probes_lost"] == 0
    assert is_sustained(s, p99_ms=100)
    back = RunResult.from_json(json.loads(json.dumps(run.to_json())))
    assert back.clinic is not None and summarize(back, duration_s=1.0) == s


def test_clinic_latencies_that_start_in_the_warm_up_are_plotted_but_not_counted_in_the_figures() -> None:
    result = ClinicResult()
    result.record("setup", started_s=0.5, value_s=1.2, warmup_s=2.0)  # during the devices' connection storm
    result.record("setup", started_s=3.0, value_s=0.04, warmup_s=2.0)
    result.record("upload", started_s=1.0, value_s=0.9, warmup_s=2.0)
    assert result.setup.count == 1 and result.setup.max_ms == pytest.approx(40)
    assert result.upload.count == 0
    assert [(t, kind) for t, kind, _ in result.events] == [(0.5, "setup"), (3.0, "setup")]
