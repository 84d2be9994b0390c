"""Inference workers: one single-threaded worker per usable core on CPU, container quotas respected."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from monitor.models import workers
from monitor.models.workers import _cgroup_quota, plan_workers


@pytest.mark.parametrize(
    ("cores", "device", "asked", "want"),
    [
        (2, "cpu", (None, None), (2, 1)),  # default: a worker per core, one thread each
        (16, "cpu", (None, None), (8, 2)),  # capped workers share the cores out as threads
        (4, "cpu", (None, 2), (2, 2)),  # threads asked: workers fill the rest
        (4, "cpu", (1, None), (1, 4)),  # one worker asked: it gets every core (intra-op)
        (16, "cuda", (None, None), (2, 1)),
    ],
)
def test_plan(monkeypatch: pytest.MonkeyPatch, cores: int, device: str, asked: tuple, want: tuple) -> None:  # type: ignore[type-arg]
    monkeypatch.setattr(workers, "usable_cores", lambda: cores)
    plan = plan_workers(torch.device(device), *asked)
    assert (plan.workers, plan.threads) == want


def test_cgroup_v2_quota_limits_cores(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert _cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert _cgroup_quota(tmp_path) is None


def test_cgroup_v1_quota_limits_cores(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert _cgroup_quota(tmp_path) == 3.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cgroup_quota(tmp_path) is None


def test_usable_cores_obeys_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "_cgroup_quota", lambda: 0.5)  # half a core: one worker, not one per host core
    assert workers.usable_cores() == 1
