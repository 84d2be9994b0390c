"""The hand-labelled financial topic sets (English and Chinese): they load, every topic is known, the
example pool and the held-out texts share no article, no sentiment test text is in the pool, and draws
are repeatable."""

from __future__ import annotations

import json

import pytest

from bench.topic_sets import DATA, FIN_FILES, load_fin

SIZES = {"fin-en": 640, "fin-zh": 514}
SENTIMENT_TEST = {"fin-en": "fin_sentiment_en.jsonl", "fin-zh": "fin_sentiment_zh.jsonl"}


def test_every_set_is_covered() -> None:
    assert set(SIZES) == set(SENTIMENT_TEST) == set(FIN_FILES)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_every_text_has_known_topics_and_a_split(name: str) -> None:
    data = load_fin(name)  # raises on an unknown topic or split
    assert len(data.pool) + len(data.held_out) == SIZES[name]
    assert all(len(set(x.topics)) == len(x.topics) for x in (*data.pool, *data.held_out))


@pytest.mark.parametrize("name", sorted(SIZES))
def test_pool_and_held_out_share_no_article(name: str) -> None:
    data = load_fin(name)
    assert not {x.article for x in data.pool} & {x.article for x in data.held_out}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_sentiment_test_texts_are_only_ever_held_out(name: str) -> None:
    # the sentiment files are test sets: nothing may fit a head on them, topic heads included
    lines = (DATA / SENTIMENT_TEST[name]).read_text(encoding="utf-8").splitlines()
    test = {json.loads(line)["text"] for line in lines}
    data = load_fin(name)
    assert not test & {x.text for x in data.pool}
    assert test == {x.text for x in data.held_out}


@pytest.mark.parametrize(("name", "one_per_article", "n"),
                         [("fin-en", False, 20), ("fin-en", True, 12), ("fin-zh", False, 15)])
def test_draws_are_repeatable_single_topic_and_distinct(name: str, one_per_article: bool, n: int) -> None:
    data = load_fin(name)
    for topic in data.topics:
        drawn = data.draw(topic, n, seed=3, one_per_article=one_per_article)
        assert drawn == data.draw(topic, n, seed=3, one_per_article=one_per_article)
        assert len(set(drawn)) == n
        assert {x.text for x in data.candidates(topic)} >= set(drawn)
        if one_per_article:
            articles = [x.article for x in data.pool if x.text in drawn]
            assert len(articles) == len(set(articles))


def test_a_draw_larger_than_the_pool_says_how_many_there_are() -> None:
    with pytest.raises(ValueError, match="only 12 examples of 'energy'"):
        load_fin("fin-en").draw("energy", 20, seed=0, one_per_article=True)
    with pytest.raises(ValueError, match="only 17 examples of 'markets'"):
        load_fin("fin-zh").draw("markets", 20, seed=0)
