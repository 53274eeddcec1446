"""A CPU limit for a server process this run starts, as a container's CPU limit would set.

``--node-cpu 0.5`` gives every node half a core, enforced by the kernel's CFS bandwidth
control in a cgroup of its own (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``), with
a 10 ms period so that a node at its limit waits at most a few milliseconds, not the
default 100 ms period's tens, and a burst allowance of one period's quota (where the kernel
has it: ``cpu.max.burst`` / ``cpu.cfs_burst_us``) so that quota left unused in quiet periods
covers a burst (a node handing out one XREAD's worth of frames from every stream at once)
instead of throttling it: the average stays at the limit, as with a container's. This is how one machine shows scale-out: one node at a
budget of X cores against two nodes at X cores each, with the load generator and Redis on
the cores left over. It needs root (or a delegated cgroup) and the cpu controller.

    limit = CpuLimit.create("load-node-0", cores=0.5)
    limit.add(pid)
    ...
    limit.remove()
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PERIOD_US = 10_000
V2_ROOT = Path("/sys/fs/cgroup")
V1_ROOT = Path("/sys/fs/cgroup/cpu")


class CpuLimitError(RuntimeError):
    """No cgroup CPU controller this process may use."""


@dataclass
class CpuLimit:
    path: Path
    cores: float

    @classmethod
    def create(cls, name: str, cores: float) -> CpuLimit:
        """A cgroup ``teleconsult-loadtest-<name>-<pid>`` limited to ``cores`` CPUs.

        Raises:
            CpuLimitError: neither a cgroup v2 tree with the cpu controller nor a v1 cpu
                hierarchy is writable here.
        """
        if cores <= 0:
            raise ValueError("cores must be positive")
        quota_us = max(1000, round(cores * PERIOD_US))
        group = f"teleconsult-loadtest-{name}-{os.getpid()}"
        try:
            if "cpu" in _read(V2_ROOT / "cgroup.controllers").split():
                path = V2_ROOT / group
                if "cpu" not in _read(V2_ROOT / "cgroup.subtree_control").split():
                    (V2_ROOT / "cgroup.subtree_control").write_text("+cpu")
                path.mkdir(exist_ok=True)
                (path / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
                _write_if_present(path / "cpu.max.burst", str(quota_us))
                return cls(path, cores)
            if (V1_ROOT / "cpu.cfs_quota_us").exists():
                path = V1_ROOT / group
                path.mkdir(exist_ok=True)
                (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(quota_us))
                _write_if_present(path / "cpu.cfs_burst_us", str(quota_us))
                return cls(path, cores)
        except OSError as exc:
            raise CpuLimitError(f"cannot set a CPU limit ({exc}); --node-cpu needs root and the cgroup cpu "
                                "controller") from None
        raise CpuLimitError("no cgroup cpu controller on this machine; --node-cpu needs one")

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads, and what it starts later) into the group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled_s(self) -> float:
        """Total time the group's processes were held back by the limit so far."""
        text = _read(self.path / "cpu.stat")
        fields = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        if "throttled_usec" in fields:  # v2
            return int(fields["throttled_usec"]) / 1e6
        return int(fields.get("throttled_time", 0)) / 1e9  # v1, nanoseconds

    def remove(self) -> None:
        """Delete the group (its processes must have exited; leftover ones go back to the root)."""
        try:
            for pid in _read(self.path / "cgroup.procs").split():
                (self.path.parent / "cgroup.procs").write_text(pid)
            self.path.rmdir()
        except OSError:
            pass


def _write_if_present(path: Path, value: str) -> None:
    if path.exists():
        path.write_text(value)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


__all__ = ["CpuLimit", "CpuLimitError", "PERIOD_US"]
