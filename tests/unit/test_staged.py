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


class _SlowRecorder(_Recorder):
    """A step whose transaction is still out when the test stages more records."""

    def __init__(self) -> None:
        super().__init__()
        self.out = asyncio.Event()
        self.release = asyncio.Event()

    async def commit(self, records: list[Pending], offsets: dict, group: str) -> StepResult:
        self.out.set()
        await self.release.wait()
        return await super().commit(records, offsets, group)


def test_records_staged_while_a_step_is_out_wait_for_the_next_step():
    async def scenario() -> tuple[list[int], list[int]]:
        staged = StagedOutput(Settings(), Metrics())
        writer = _SlowRecorder()
        staged.writers[("news", 0)] = writer  # type: ignore[assignment]
        # the first step of a new assignment: nothing staged yet, the offset of the first record in flight
        step = asyncio.create_task(staged.commit({("news", 0): 0}))
        await writer.out.wait()
        for offset in (1, 0, 2):  # batches finish while the transaction is out
            staged.stage(("news", 0), offset, Pending(("out", None, f"m{offset}".encode(), [])))
        writer.release.set()
        await step
        kept = [o for o, _ in staged.staged[("news", 0)]]
        await staged.commit({("news", 0): 3})
        return kept, writer.steps[1][0]

    kept, second = asyncio.run(scenario())
    assert kept == [1, 0, 2], "nothing staged during a step is dropped by it"
    assert second == [b"m0", b"m1", b"m2"]


def test_a_step_that_ends_after_its_partition_was_revoked_does_not_bring_its_records_back():
    async def scenario() -> dict:
        staged = StagedOutput(Settings(), Metrics())
        writer = _SlowRecorder()
        staged.writers[("news", 0)] = writer  # type: ignore[assignment]
        staged.stage(("news", 0), 5, Pending(("out", None, b"m5", [])))
        step = asyncio.create_task(staged.commit({("news", 0): 5}))
        await writer.out.wait()
        staged.staged.pop(("news", 0))  # what a revocation does (its writer's stop is not the point here)
        writer.release.set()
        await step
        return staged.staged

    assert asyncio.run(scenario()) == {}, "the next owner redoes what was staged; this process forgets it"
