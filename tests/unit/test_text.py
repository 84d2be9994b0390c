"""Text features behind explanations and near-duplicate folding, in English and Chinese."""

from __future__ import annotations

import random
import re
from collections import Counter

from monitor.alerts.explain import over_represented
from monitor.trends.dedup import NearDuplicateIndex
from monitor.trends.shingles import MASK, PRIME, SEED, SLICE
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


def test_chinese_wire_attributions_do_not_make_a_copy_a_new_story() -> None:
    title = "央行降息落地，房地产板块全线走强"
    copies = [title + "（新华社）", "【财经网】" + title, title + "——财经网", title + "(记者)"]
    assert {simhash(c) for c in copies} == {simhash(title)}
    assert normalise("数据(2)") == "数据(2)", "too short to be a title with its source: left alone"


def test_explanations_leave_out_function_words_of_both_languages() -> None:
    assert terms("We still need to know what they tell us at this point") == []
    assert terms("我们认为这个问题已经解决") == ["解决"]
    before = Counter(terms("Shares in the carmaker were flat as investors waited for results") * 20)
    inside = Counter(terms("Carmaker recalls two million vehicles over faulty airbags, still taking time") * 4)
    assert set(over_represented(inside, before)) >= {"recalls", "airbags"}


def test_a_batch_of_fingerprints_equals_one_at_a_time() -> None:
    texts = ["Oil prices jump 5% after OPEC announces surprise output cut", "证监会立案调查", "ok", "!!!", "",
             "Tech shares slide as chipmaker warns " * 20, "央行宣布降准，银行股领涨 Bank shares rally"]
    assert fingerprints([normalise(t) for t in texts]) == [simhash(t) for t in texts]
    assert fingerprints([]) == []


def _mix(x: int) -> int:
    x ^= x >> 33
    x = x * 0xFF51AFD7ED558CCD & MASK
    x ^= x >> 33
    x = x * 0xC4CEB9FE1A85EC53 & MASK
    return x ^ (x >> 33)


def _hash(s: str) -> int:
    poly = sum(_mix(ord(c) + SEED & MASK) * pow(PRIME, i, 1 << 64) for i, c in enumerate(s)) & MASK
    return _mix(poly + len(s) * SEED & MASK)


def _one_at_a_time(norm: str) -> int:
    """The fingerprint's definition, read one shingle at a time with regular expressions."""
    tokens = [_hash(m.group()) for m in re.finditer(r"[a-z][a-z'\-]{2,}|\d+", norm)]
    shingles = tokens + [_mix(a * PRIME + b + 1 & MASK) for a, b in zip(tokens, tokens[1:])]
    for run in re.findall(r"[\u3400-\u9fff\uf900-\ufaff]+", norm):
        shingles += [_hash(run)] if len(run) == 1 else [_hash(run[i : i + 2]) for i in range(len(run) - 1)]
        shingles += [_hash(run[i : i + 3]) for i in range(len(run) - 2)]
    counts = Counter(shingles or [_hash(norm)])
    total = sum(counts.values())
    return sum(1 << k for k in range(64) if 2 * sum(n for h, n in counts.items() if h >> k & 1) > total)


def test_fingerprints_of_a_batch_follow_their_definition_on_any_text() -> None:
    # word letters and joiners, digits (ASCII and not), Chinese in and out of the ranges' edges, the
    # batch separator itself inside a text, and characters of no class: runs must never cross texts
    alphabet = "ab-'z 1٣x央行宣布降息\u3400\u9fff\uf900\ufaff\u33ff\ufb00。 ,!Ω\x00é"
    rng = random.Random(7)
    for _ in range(2000):
        batch = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(rng.randint(1, 6))]
        assert fingerprints(batch) == [_one_at_a_time(norm) for norm in batch], batch
    stories = [normalise(t) for t in ("Oil prices jump 5% after OPEC's surprise cut - Reuters", "证监会立案调查 2024年",
                                      "央行宣布降准，银行股领涨 Bank shares rally", "ok", "")]
    assert fingerprints(stories) == [_one_at_a_time(norm) for norm in stories]


def test_a_text_longer_than_the_counters_lanes_still_gets_its_majority() -> None:
    long = "央行宣布降息" * 12_000 + " rates"  # 143,998 shingles: more than a 16-bit count holds
    assert fingerprints([long, "rates cut"]) == [_one_at_a_time(long), _one_at_a_time("rates cut")]


def test_a_batch_too_large_for_one_pass_is_fingerprinted_in_slices_with_the_same_result() -> None:
    rng = random.Random(3)
    words = ["rates", "bank", "央行", "降息", "2024", "fraud", "probe", "市场"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30_000))) for _ in range(12)] + ["", "ok"]
    assert sum(map(len, texts)) > SLICE  # more code points than one set of array passes takes
    assert fingerprints(texts) == [fingerprints([t])[0] for t in texts]
    assert fingerprints(texts[:3]) == [_one_at_a_time(t) for t in texts[:3]]
