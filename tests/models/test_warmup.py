"""After the warm-up, no batch the batcher can cut builds anything new: a fresh daemon runs at its
warm speed from its first batch (``monitor.models.warmup``)."""

from __future__ import annotations

import ctypes
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import pytest
import torch

from bench.lite import lite_encoders
from bench.support import sample_texts
from monitor.batching import Batch, Batcher
from monitor.models.classifier import Classifier, Tokenized
from monitor.models.graph import _round_up, row_buckets
from monitor.models.warmup import batch_lengths, most_rows, small_grid
from monitor.models.workers import WorkerPlan
from monitor.settings import BatchSettings, ModelSettings

MAX_SIZE, MAX_TOKENS = 16, 512  # small limits keep the test quick; the shapes follow them


def test_where_nothing_is_built_per_shape_a_small_grid_is_run() -> None:
    with lite_encoders(1):
        classifier = Classifier.load(ModelSettings(precision="fp32"))
    report = classifier.warm_up(MAX_SIZE, MAX_TOKENS, every_shape=True)  # fp32: no dense shapes to build
    assert report.row_counts == 0 and report.batches == 2 * len(small_grid(MAX_SIZE, 128))


@pytest.mark.parametrize("max_size, max_tokens, max_length", [(64, 8192, 128), (16, 512, 128), (8, 100, 64), (4, 3, 16)])
def test_the_plan_covers_every_size_width_and_row_count_the_batcher_can_cut(
        max_size: int, max_tokens: int, max_length: int) -> None:
    plan = batch_lengths(max_size, max_tokens, max_length)
    sizes = {len(lengths) for lengths in plan}
    widths = {max(lengths) for lengths in plan}
    # the batcher cuts at most max_tokens // longest messages, and always at least one
    assert sizes == set(range(1, max(1, min(max_size, max_tokens // 2)) + 1)) | {1}
    assert widths >= set(range(1, max_length + 1))
    assert all(len(lengths) * max(lengths) <= max(max_tokens, max(lengths)) for lengths in plan)
    most = most_rows(max_size, max_tokens, max_length)
    feasible = {_round_up(size * width) for width in range(1, max_length + 1)
                for size in range(1, max(1, min(max_size, max_tokens // width)) + 1)}
    assert feasible <= set(row_buckets(most))


def _built(capfd: pytest.CaptureFixture[str], work: Callable[[], object]) -> list[str]:
    """oneDNN primitives created (not found in its cache) while ``work`` ran."""
    capfd.readouterr()
    with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON_CREATION):
        work()
    ctypes.CDLL(None).fflush(None)  # oneDNN writes through C stdio
    return [line for line in capfd.readouterr().out.splitlines() if "create:cache_miss" in line]


def _cut(classifier: Classifier, texts: list[str], trickle: bool) -> list[Batch[Tokenized]]:
    """The real batcher's cuts of ``texts``: all at once (a backlog) or a few at a time (a trickle)."""
    batcher: Batcher[Tokenized] = Batcher(BatchSettings(max_size=MAX_SIZE, max_tokens=MAX_TOKENS))
    batches: list[Batch[Tokenized]] = []
    for i, text in enumerate(texts):
        route = classifier.route_for(None, text)
        item = classifier.tokenize(route, [text])[0]
        batches += batcher.add(route, item, item.length, 0.0)
        if trickle and i % 5 == 4:
            batches += batcher.due(1.0)
    return batches + batcher.flush()


def _every_size(classifier: Classifier, seed: int = 0) -> list[Batch[Tokenized]]:
    """Batches of every size the batcher may cut, at widths from the shortest to the longest it allows."""
    rng = random.Random(seed)
    batches = []
    for route in classifier.routes:
        limit = classifier.routes[route].max_length
        for size in range(1, MAX_SIZE + 1):
            widest = min(limit, max(2, MAX_TOKENS // size))
            for width in {2, rng.randint(2, widest), widest}:
                lengths = [width] + [rng.randint(2, width) for _ in range(size - 1)]
                items = [Tokenized(tuple([101] + [7] * (n - 2) + [102] for _ in classifier.routes[route].backends),
                                   (False,) * len(classifier.routes[route].backends)) for n in lengths]
                batches.append(Batch(route, items, lengths))
    return batches


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="no oneDNN in this build of torch")
def test_after_the_warm_up_no_batch_builds_a_kernel(capfd: pytest.CaptureFixture[str]) -> None:
    """bf16 on CPU, where the dense layers and heads are oneDNN primitives built per shape (asked for
    where bf16 is emulated too, where the daemon leaves it to first use): the warm-up builds them (in one worker thread), and then neither the batcher's cuts of real texts,
    as a backlog and as a trickle, nor batches of every size, build anything (in another worker)."""
    with lite_encoders(1):  # the shapes are the shipped models', one layer of them is enough
        classifier = Classifier.load(ModelSettings(precision="bf16", trace=True))
    assert all(b.dense_shapes is not None for r in classifier.routes.values() for b in r.backends)  # type: ignore[attr-defined]
    plan = WorkerPlan(workers=1, threads=1)
    texts = sample_texts(600)
    with ThreadPoolExecutor(1, initializer=plan.init_thread) as warm_thread, \
            ThreadPoolExecutor(1, initializer=plan.init_thread) as worker:
        warmed = _built(capfd, lambda: warm_thread.submit(classifier.warm_up, MAX_SIZE, MAX_TOKENS, True).result())
        assert warmed, "the warm-up built nothing: oneDNN's verbose output did not reach the test"
        batches = _cut(classifier, texts, trickle=False) + _cut(classifier, texts, trickle=True) + _every_size(classifier)
        assert {len(b.items) for b in batches} == set(range(1, MAX_SIZE + 1))

        def classify_all() -> None:
            for batch in batches:
                worker.submit(lambda b=batch: classifier.forward(classifier.collate(b.route, b.items))).result()

        assert _built(capfd, classify_all) == []
