"""The benchmark's GPU utilisation: read from nvidia-smi while the work runs, absent on a CPU machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.support import GpuSampler


def test_utilisation_is_the_mean_of_what_nvidia_smi_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readings = tmp_path / "readings"
    readings.write_text("80\n")
    smi = tmp_path / "nvidia-smi"  # answers the query the benchmark makes, one reading per call
    smi.write_text(f'#!/bin/sh\ncat "{readings}"\necho 100 > "{readings}"\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with GpuSampler(interval=0.01) as sampler:
        deadline = time.monotonic() + 30
        while len(sampler.samples) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sampler.samples[:2] == [80.0, 100.0]
    assert sampler.mean == sum(sampler.samples) / len(sampler.samples)


def test_a_machine_without_nvidia_smi_reports_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with GpuSampler(interval=0.01) as sampler:
        pass
    assert sampler.mean is None and sampler.samples == []
