"""The live progress line: one line on a terminal, rewritten in place; nothing otherwise.

    progress = Progress(sys.stderr)          # enabled only if stderr is a TTY
    progress.show(progress_line(window, ...))
    progress.clear()                          # before printing anything else
"""

from __future__ import annotations

import shutil
from typing import TextIO

from loadtest.metrics import Window


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def progress_line(label: str, t_s: float, duration_s: float, window: Window, target_devices: int,
                  missed_total: int, gaps_total: int, errors_total: int, cpu_pct: float | None,
                  rss_mib: float | None) -> str:
    """``[100 devices] 12/20 s  devices 98/100  frames/s 2450  ack p99 41 ms  …``."""
    per_s = window.window_s or 1.0
    cpu = "–" if cpu_pct is None else f"{cpu_pct:.0f} %"
    rss = "" if rss_mib is None else f" {rss_mib:.0f} MiB"
    return (f"[{label}] {t_s:4.0f}/{duration_s:g} s  devices {window.devices_streaming}/{target_devices}"
            f"  frames/s {window.frames_sent / per_s:.0f}  ack p99 {_ms(window.ack.percentile_ms(99))} ms"
            f"  reader p99 {_ms(window.reader.percentile_ms(99))} ms  missed {missed_total}"
            f"  gaps {gaps_total}  errors {errors_total}  server cpu {cpu}{rss}")


class Progress:
    def __init__(self, stream: TextIO, enabled: bool | None = None) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self._shown = False

    def show(self, line: str) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((120, 20)).columns
        self.stream.write("\r\x1b[K" + line[: max(20, width - 1)])
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


__all__ = ["Progress", "progress_line"]
