"""Commit-stall detection: work pending and no commit for the threshold fails readiness, naming the partition."""

from __future__ import annotations

import aiohttp

from monitor.metrics import Metrics
from monitor.server import HealthServer
from monitor.stall import CommitStallDetector, PartitionProgress

P0, P1 = ("news", 0), ("news", 1)


def test_a_partition_with_work_and_no_commit_stalls_after_the_threshold() -> None:
    d = CommitStallDetector(60)
    steps = [
        # (time, {partition: (committed, pending)}, expected stalled seconds)
        (0, {P0: (10, True), P1: (5, False)}, {P0: 0, P1: 0}),
        (30, {P0: (10, True), P1: (5, False)}, {P0: 30, P1: 0}),
        (59, {P0: (10, True), P1: (5, False)}, {P0: 59, P1: 0}),
        (61, {P0: (10, True), P1: (5, False)}, {P0: 61, P1: 0}),  # P1 idle forever is fine
        (62, {P0: (11, True), P1: (5, True)}, {P0: 0, P1: 1}),  # a commit moved: P0 is fine again
        (200, {P0: (11, False), P1: (5, True)}, {P0: 0, P1: 139}),  # P0 caught up; P1 has had work since 61
    ]
    for now, parts, expected in steps:
        got = d.observe({k: PartitionProgress(c, p) for k, (c, p) in parts.items()}, now)
        assert got == expected, now
    assert d.stalled(got) == ["news[1]: no commit for 139 s with work pending (kafka.commit_stall_seconds=60)"]


def test_a_revoked_partition_is_forgotten() -> None:
    d = CommitStallDetector(10)
    d.observe({P0: PartitionProgress(None, True)}, 0)
    d.observe({}, 100)
    assert d.observe({P0: PartitionProgress(None, True)}, 200) == {P0: 0}


async def test_readyz_says_why() -> None:
    why = ["news[0]: no commit for 400 s with work pending (kafka.commit_stall_seconds=300)"]
    server = HealthServer(Metrics(), lambda: {"commits_advancing": False}, "127.0.0.1", 0, why=lambda: why)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 503
            assert await resp.json() == {"ready": False, "checks": {"commits_advancing": False}, "why": why}
    finally:
        await server.stop()
