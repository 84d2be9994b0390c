"""A switch of the live models waits for every batch being classified, so the batches classified
before it and after it never overlap; one that cannot reach a boundary gives up and changes nothing."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

import monitor.daemon as daemon_module
from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.settings import Settings
from monitor.shadow.lineup import LineupError


async def turns(n: int = 50) -> None:
    """Let the other tasks run until they wait (a bounded number of loop turns, no wall-clock wait)."""
    for _ in range(n):
        await asyncio.sleep(0)


def idle_daemon(tmp_path) -> Daemon:  # type: ignore[no-untyped-def]
    """A daemon that is never run: only its slots and live classifier matter here."""
    settings = Settings(state={"dir": str(tmp_path)}, feedback={"enabled": False}, http={"port": 0})
    d = Daemon(settings, Metrics())
    d.plan = SimpleNamespace(workers=2)  # type: ignore[assignment]
    d._slots = asyncio.Semaphore(3)  # noqa: SLF001 - two workers, one batch ready
    d.classifier = "old"  # type: ignore[assignment]
    return d


async def test_the_switch_waits_for_the_batches_in_flight(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = idle_daemon(tmp_path)
    await d._slots.acquire()  # noqa: SLF001 - a batch being classified
    switch = asyncio.create_task(d._switch("new"))  # type: ignore[arg-type]  # noqa: SLF001
    await turns()  # the switch takes every free slot and waits for the last
    assert d.classifier == "old" and not switch.done(), "swapped while a batch was being classified"
    cut = asyncio.create_task(d._slots.acquire())  # noqa: SLF001 - the batcher wants to cut the next batch
    await turns()
    assert not cut.done(), "a batch was cut while the switch waited"
    d._slots.release()  # noqa: SLF001 - the batch is done
    assert await switch == 0
    assert d.classifier == "new"
    await cut  # batching goes on, with the new models
    d._slots.release()  # noqa: SLF001
    assert d._slots._value == 3  # noqa: SLF001 - every slot back


async def test_a_switch_that_finds_no_boundary_changes_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(daemon_module, "SWITCH_WAIT_SECONDS", 0.2)
    d = idle_daemon(tmp_path)
    await d._slots.acquire()  # noqa: SLF001 - a batch that does not finish (publishing held up)
    with pytest.raises(LineupError) as refused:
        await d._switch("new")  # type: ignore[arg-type]  # noqa: SLF001
    assert refused.value.status == 503
    assert d.classifier == "old"
    assert d._slots._value == 2  # noqa: SLF001 - the slots it took are handed back
