"""Text features behind explanations and near-duplicate folding, in English and Chinese."""

from __future__ import annotations

from collections import Counter

from monitor.alerts.explain import over_represented
from monitor.trends.dedup import NearDuplicateIndex
from monitor.trends.text import fingerprints, hamming, normalise, simhash, terms


def test_terms_are_english_content_words_and_chinese_bigrams() -> None:
    assert terms("The Bank of England raises rates http://x.co/abc @reuters") == ["bank", "england", "raises", "rates"]
    assert terms("央行宣布降息") == ["央行", "行宣", "宣布", "布降", "降息"]


def test_over_represented_terms_explain_a_surge_in_either_language() -> None:
    before = Counter({"rates": 40, "market": 30, "银行": 20, "利润": 20})
    inside = Counter({"rates": 4, "market": 3, "fraud": 9, "probe": 6, "暴雷": 7, "银行": 2})
    top = over_represented(inside, before)
    assert set(top[:3]) == {"fraud", "暴雷", "probe"}
    assert "rates" not in top and "market" not in top


def test_syndicated_copies_are_near_duplicates_and_different_stories_are_not() -> None:
    story = "Oil prices jump 5% after OPEC announces surprise output cut"
    copy = "OIL PRICES JUMP 5% AFTER OPEC ANNOUNCES SURPRISE OUTPUT CUT - Reuters http://t.co/x"
    other = "Tech shares slide as chipmaker warns on quarterly revenue"
    assert hamming(simhash(story), simhash(copy)) <= 3
    assert hamming(simhash(story), simhash(other)) > 10
    zh = "证监会对某上市公司涉嫌财务造假立案调查"
    assert hamming(simhash(zh), simhash(zh + "。")) <= 3
    index = NearDuplicateIndex(window_seconds=60)
    assert [index.seen(t, at) for t, at in ((story, 0), (copy, 10), (other, 20), (story, 200))] == [False, True, False, False]


def test_a_batch_of_fingerprints_equals_one_at_a_time() -> None:
    texts = ["Oil prices jump 5% after OPEC announces surprise output cut", "证监会立案调查", "ok", "!!!", "",
             "Tech shares slide as chipmaker warns " * 20, "央行宣布降准，银行股领涨 Bank shares rally"]
    assert fingerprints([normalise(t) for t in texts]) == [simhash(t) for t in texts]
    assert fingerprints([]) == []
