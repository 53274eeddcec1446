"""The terminal output: the progress line (only on a terminal) and the table."""

from __future__ import annotations

import io
from collections import Counter

from loadtest.metrics import Window
from loadtest.progress import Progress, progress_line
from loadtest.report import table_header, table_row
from loadtest.results import RunResult


def test_the_progress_line_is_quiet_unless_on_a_terminal() -> None:
    pipe = io.StringIO()
    quiet = Progress(pipe)  # a StringIO is not a TTY
    quiet.show("anything")
    quiet.clear()
    assert pipe.getvalue() == ""
    tty = io.StringIO()
    live = Progress(tty, enabled=True)
    live.show("first")
    live.show("second")
    live.clear()
    assert tty.getvalue() == "\r\x1b[Kfirst\r\x1b[Ksecond\r\x1b[K"


def test_the_progress_line_says_what_the_last_second_did() -> None:
    window = Window(11, 1.0, devices_streaming=98, frames_sent=2450)
    window.ack.record_many_s([0.010] * 99 + [0.041])
    line = progress_line("100 devices", 12.0, 20.0, window, 100, missed_total=0, gaps_total=2, errors_total=1,
                         cpu_pct=61.4, rss_mib=140.2)
    assert line == ("[100 devices]   12/20 s  devices 98/100  frames/s 2450  ack p99 10 ms  reader p99 – ms"
                    "  missed 0  gaps 2  errors 1  server cpu 61 % 140 MiB")


def test_the_table_marks_unchecked_loss_and_unsustained_runs() -> None:
    summary: dict[str, float | int | None] = {
        "devices_max": 100, "frames_per_s": 2496.0, "ack_p50_ms": 27.0, "ack_p95_ms": 60.5, "ack_p99_ms": 94.0,
        "reader_p50_ms": 16.0, "reader_p95_ms": 40.0, "reader_p99_ms": 65.0, "lost_samples": None,
        "samples_stored": None, "reader_frames_missed": 0, "errors": 1, "server_cpu_pct": 59.0,
        "server_rss_mib_max": 140.0,
    }
    run = RunResult("100 devices", {}, [], [], Counter({"verify http 500": 1}), [], summary, [], False)
    assert len(table_row(run)) == len(table_header()) - len("sustained") + len("NO")
    assert table_row(run).split() == ["100", "2496", "27/60.5/94", "16/40/65", "?", "0", "1", "59", "140", "NO"]
