"""The hand-labelled financial topic set: it loads, every topic is known, the example pool and the
held-out texts share no article, no sentiment test headline is in the pool, and draws are repeatable."""

from __future__ import annotations

import json

import pytest

from bench.topic_sets import DATA, load_fin


def test_every_text_has_known_topics_and_a_split() -> None:
    data = load_fin("fin-en")  # raises on an unknown topic or split
    assert len(data.pool) + len(data.held_out) == 640
    assert all(len(set(x.topics)) == len(x.topics) for x in (*data.pool, *data.held_out))


def test_pool_and_held_out_share_no_article() -> None:
    data = load_fin("fin-en")
    assert not {x.article for x in data.pool} & {x.article for x in data.held_out}


def test_sentiment_test_headlines_are_only_ever_held_out() -> None:
    # fin_sentiment_en.jsonl is a test set: nothing may fit a head on it, topic heads included
    test = {json.loads(line)["text"] for line in (DATA / "fin_sentiment_en.jsonl").read_text().splitlines()}
    data = load_fin("fin-en")
    assert not test & {x.text for x in data.pool}
    assert test == {x.text for x in data.held_out}


@pytest.mark.parametrize("one_per_article", [False, True])
def test_draws_are_repeatable_single_topic_and_distinct(one_per_article: bool) -> None:
    data = load_fin("fin-en")
    n = 12 if one_per_article else 20
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
