"""``models.precision: auto`` picks bf16 only where the device computes it natively."""

from __future__ import annotations

import pytest
import torch

from monitor.models.base import native_bf16
from monitor.models.classifier import resolve_precision

CPU = torch.device("cpu")


def _cpu(monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)


@pytest.mark.parametrize(("amx", "avx512_bf16", "native"), [(True, True, "AMX"), (False, True, "AVX-512 BF16")])
def test_auto_is_bf16_where_the_cpu_computes_it(monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool,
                                                native: str) -> None:
    _cpu(monkeypatch, amx, avx512_bf16)
    precision, why = resolve_precision("auto", CPU)
    assert precision == "bf16"
    assert native in why


def test_auto_is_fp32_on_a_cpu_that_would_emulate_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    _cpu(monkeypatch, False, False)
    assert native_bf16(CPU) is None
    assert resolve_precision("auto", CPU)[0] == "fp32"


def test_a_configured_precision_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    _cpu(monkeypatch, False, False)
    assert resolve_precision("int8", CPU) == ("int8", "configured")
    precision, why = resolve_precision("bf16", CPU)
    assert precision == "bf16" and "emulated" in why


def test_an_older_build_without_the_probes_counts_as_no_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert native_bf16(CPU) is None
