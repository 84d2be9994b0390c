"""The classify tier's staged output: a step sends exactly the records below the committed offset,
in input-offset order, whatever order their batches finished in."""

from __future__ import annotations

import asyncio

from monitor.metrics import Metrics
from monitor.settings import Settings
from monitor.tiers.staged import StagedOutput
from monitor.tiers.writer import Pending, StepResult


class _Recorder:
    """Stands in for a partition's transactional writer: keeps what each step would write."""

    def __init__(self) -> None:
        self.steps: list[tuple[list[bytes], dict]] = []

    async def commit(self, records: list[Pending], offsets: dict, group: str) -> StepResult:
        self.steps.append(([p.record[2] for p in records], offsets))
        return StepResult(written=len(records))


def test_a_step_sends_what_lies_below_its_offset_in_offset_order():
    staged = StagedOutput(Settings(), Metrics())
    writer = _Recorder()
    staged.writers[("news", 0)] = writer  # type: ignore[assignment]
    for offset in (5, 3, 7, 4):  # the order batches finished in
        staged.stage(("news", 0), offset, Pending(("out", None, f"m{offset}".encode(), [])))
    assert asyncio.run(staged.commit({("news", 0): 6})) == {("news", 0): 6}
    assert writer.steps[0][0] == [b"m3", b"m4", b"m5"]
    assert [o for o, _ in staged.staged[("news", 0)]] == [7], "the rest waits for its offset"
