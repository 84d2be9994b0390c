"""Offsets: never commit past work still in flight, whatever order work completes in."""

from __future__ import annotations

from hypothesis import given, strategies as st

from monitor.offsets import OffsetTracker


@given(st.permutations(list(range(30))), st.integers(0, 30))
def test_committable_offset_is_the_lowest_unfinished(order: list[int], finished: int) -> None:
    tracker = OffsetTracker()
    for offset in range(30):
        tracker.started("t", 0, offset)
    done = order[:finished]
    for offset in done:
        tracker.done("t", 0, offset)
    pending = set(range(30)) - set(done)
    expected = min(pending) if pending else 30
    assert tracker.committable() == {("t", 0): expected}
    assert tracker.in_flight == len(pending)


def test_committed_offsets_are_not_reported_again_and_revoked_partitions_are_forgotten() -> None:
    tracker = OffsetTracker()
    tracker.started("t", 0, 5)
    tracker.started("t", 1, 9)
    tracker.done("t", 0, 5)
    assert tracker.committable() == {("t", 0): 6, ("t", 1): 9}
    tracker.mark_committed({("t", 0): 6})
    assert tracker.committable() == {("t", 1): 9}
    tracker.forget([("t", 1)])
    assert tracker.in_flight == 0
    tracker.done("t", 1, 9)  # late completion of revoked work is ignored
    assert tracker.committable() == {}


def test_event_times_are_released_in_each_partitions_offset_order() -> None:
    from monitor.trends.order import ReleaseOrder

    order = ReleaseOrder()
    for offset in (10, 11, 12):
        order.fetched(("news", 0), offset)
    order.fetched(("news", 1), 5)
    order.trended(("news", 0), 12, 300.0)  # a short message of a later batch finishes first
    order.trended(("news", 1), 5, 50.0)
    assert order.release() == [(("news", 1), 50.0)]  # partition 0 still waits for 10 and 11
    order.trended(("news", 0), 10, 100.0)
    assert order.release() == [(("news", 0), 100.0)]
    order.trended(("news", 0), 11, 200.0)
    assert order.release() == [(("news", 0), 300.0)]
    order.fetched(("news", 0), 11)  # re-read after a rebalance: starts over
    order.trended(("news", 0), 11, 200.0)
    assert order.release() == [(("news", 0), 200.0)]


def test_work_fetched_before_a_revocation_does_not_complete_its_re_read_copy() -> None:
    tracker = OffsetTracker()
    for offset in (3, 4, 5):
        tracker.started("t", 0, offset)
    tracker.forget([("t", 0)])  # revoked with 3-5 in flight; the partition comes back, re-read from 3
    tracker.started("t", 0, 3)
    assert not tracker.done("t", 0, 4), "4 of the earlier fetch is not in flight here now"
    assert not tracker.done("t", 0, 5)
    tracker.started("t", 0, 4)
    tracker.started("t", 0, 5)
    assert tracker.done("t", 0, 3)
    assert tracker.committable() == {("t", 0): 4}, "the re-read 4 is still in flight"
    assert tracker.in_flight_for("t", 0) == 2 and tracker.in_flight == 2
    assert tracker.done("t", 0, 4) and tracker.done("t", 0, 5)
    assert not tracker.done("t", 0, 5), "one completion per fetch"
    assert tracker.committable() == {("t", 0): 6} and tracker.in_flight == 0


def test_an_offset_fetched_twice_while_in_flight_completes_once() -> None:
    tracker = OffsetTracker()
    tracker.started("t", 0, 7)
    tracker.started("t", 0, 7)
    assert tracker.in_flight == 1
    assert tracker.done("t", 0, 7) and not tracker.done("t", 0, 7)
    assert tracker.committable() == {("t", 0): 8} and tracker.in_flight == 0
