"""How many inference workers run, and how many torch threads each uses.

On CPU the daemon runs one single-threaded worker per usable core, each on its own batch
(inter-op parallelism), rather than one worker whose every operator is split over all cores
(intra-op). Measured on 2 cores (bench/README.md): the two layouts are within 10 % of each
other on an idle machine, but when anything else needs CPU time (the event loop, a broker on
the same host) the split operators wait at every barrier for a descheduled thread, and
intra-op throughput drops by half while per-batch workers lose only what they gave away.

On CUDA two workers suffice: one tokenises and copies while the other's kernels run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

MAX_CPU_WORKERS = 8  # beyond this, per-batch latency grows faster than throughput


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """Inference workers and torch intra-op threads per worker."""

    workers: int
    threads: int

    def init_thread(self) -> None:
        """Run in each worker thread: torch's thread count is per thread on OpenMP builds."""
        name_thread("textmon-infer")
        torch.set_num_threads(self.threads)


def name_thread(name: str) -> None:
    """Give the calling thread an OS-visible name (``top -H``, /proc/*/task/*/comm); Linux only."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 or v1 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def plan_workers(device: torch.device, workers: int | None, threads: int | None) -> WorkerPlan:
    """Fill in what settings leave open (``None``) from the device and the usable cores."""
    cores = usable_cores()
    if workers is None:
        if device.type == "cuda":
            workers = 2
        elif threads is not None:
            workers = max(1, cores // threads)
        else:
            workers = min(cores, MAX_CPU_WORKERS)
    if threads is None:
        threads = max(1, cores // workers) if device.type == "cpu" else 1
    return WorkerPlan(workers=workers, threads=threads)


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the container's quota, or None when unlimited or unknown."""
    try:
        text = (root / "cpu.max").read_text().split()  # v2: "max 100000" or "200000 100000"
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None
