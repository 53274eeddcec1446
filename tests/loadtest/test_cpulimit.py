"""--node-cpu: a server's CPU limit is the kernel's, and its cgroup is gone afterwards."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from loadtest.cpulimit import CpuLimit

BUSY = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"


def cpu_seconds(pid: int) -> float:
    import os

    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_busy_process_gets_no_more_than_its_share_of_a_core() -> None:
    limit = CpuLimit.create("test", cores=0.25)
    try:
        proc = subprocess.Popen([sys.executable, "-c", BUSY.format(s=2.0) + "input()"], stdin=subprocess.PIPE)
        limit.add(proc.pid)
        started = time.monotonic()
        time.sleep(2.5)  # the loop ends 2 s after its start; it then waits on stdin
        used_s, elapsed_s = cpu_seconds(proc.pid), time.monotonic() - started
        proc.communicate(b"\n", timeout=10)
        # a core's worth of busy loop for 2 s, held to a quarter (+ start-up before the limit)
        assert used_s <= 0.25 * elapsed_s + 0.15, (used_s, elapsed_s)
        assert limit.throttled_s() > 0.5
    finally:
        limit.remove()
    assert not limit.path.exists()


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CpuLimit.create("test", cores=0)
