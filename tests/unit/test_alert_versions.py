"""An alert names every model version behind its window: across a promotion, a rollback and two
language routes, and only the versions whose messages fell inside it."""

from __future__ import annotations

from monitor.alerts.versions import VersionSpans

V1 = {"topic": "en-news@1", "sentiment": "en-news@1"}
V2 = {"topic": "en-news@1", "sentiment": "en-news@2"}
ZH = {"topic": "multilingual-news@1", "sentiment": "multilingual-news@1"}


def test_a_window_names_the_versions_of_its_own_buckets() -> None:
    spans = VersionSpans()
    for i in range(0, 10):
        spans.saw(V1, i, i)
    for i in range(10, 20):  # promoted at bucket 10
        spans.saw(V2, i, i)
    for i in range(20, 30):  # rolled back at bucket 20
        spans.saw(V1, i, i)
    assert spans.within(0, 9) == V1
    assert spans.within(12, 18) == V2, "the rolled-back version did not classify these buckets"
    assert spans.within(5, 14) == {"topic": "en-news@1", "sentiment": "en-news@1 + en-news@2"}
    assert spans.within(15, 25) == {"topic": "en-news@1", "sentiment": "en-news@2 + en-news@1"}
    assert spans.within(100, 110) == V1, "no message there: the latest versions"


def test_two_routes_in_one_window_are_both_named_and_late_records_extend_their_run() -> None:
    spans = VersionSpans()
    for i in range(0, 10):
        spans.saw(V1, i, i)
        spans.saw(ZH, i, i)
    spans.saw(V1, 3, 3)  # a late record of an older bucket
    assert spans.within(2, 4) == {"topic": "en-news@1 + multilingual-news@1",
                                  "sentiment": "en-news@1 + multilingual-news@1"}


def test_runs_past_retention_are_forgotten() -> None:
    spans = VersionSpans()
    spans.saw(V1, 0, 5)
    spans.saw(V2, 6, 50)
    spans.forget_before(10)
    assert spans.within(0, 5) == V2, "the old run is gone; the latest versions stand in"
    assert spans.within(6, 50) == V2
