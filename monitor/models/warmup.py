"""Warm-up: every batch shape the batcher can cut, met once before the daemon says it is ready.

Knows the models and the batcher's limits, nothing of Kafka or the daemon. A fresh process pays
for the first use of a shape: TorchScript profiles a graph's first runs, and in bf16 on CPU
oneDNN builds a primitive (JIT code, 1-7 ms) for each new input shape of each dense layer and
head. A pod that met these on live traffic ran its first pass over a stream at 63 % of its second
on an AMX CPU (528 against 836 msg/s, bench/README.md).

A batch the batcher cuts (``monitor.batching``) holds ``size`` messages, at most ``max_size``,
padded to its longest message's ``width`` tokens, at most the model's ``max_length``, with
``size * width`` within ``max_tokens`` (a single longer message goes alone). A bundle's encoder
sees three numbers of it, and what is built on first use is keyed by one of them at a time: the
heads by ``size``, the dense layers by the batch's real tokens rounded up (``graph.row_buckets``:
176 row counts up to 8,192), attention by nothing on the CPUs measured (by ``width`` if a kernel
library blocks it by length). So where a bundle builds per shape (bf16 on CPU:
``graph.DenseShapes``) on a CPU that computes bf16 natively the warm-up runs, per model:

- every size, each message two tokens long;
- every width, as one message;
- every row count through the dense layers alone, once for all models of the same widths: the
  whole encoder over every row count up to 8,192 would be half a million tokens of forward
  passes, most of them arithmetic that builds nothing.

Elsewhere (fp32 on CPU, int8, CUDA, plain Hugging Face folders) it runs a small grid of sizes and
widths: a graph's first runs and the allocator's first large buffers, not one pass per shape. So
it does where bf16 is emulated: there oneDNN's kernels are generic (0.35 ms to build each, 69 ms
for all a first pass of 4,000 messages built on an Ice Lake Xeon) while the arithmetic is slow
(the full warm-up took 88 s there, bench/README.md). A
Hugging Face folder runs eagerly on padded ``size x width`` batches, whose bf16 layers would be
keyed by every pair: too many to meet ahead.

``tests/models/test_warmup.py`` checks the claim: after the warm-up, the batches the real batcher
cuts from real texts, of every size, build nothing new, in another worker thread too.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterable

from monitor.logs import get_logger
import torch

from monitor.models.base import Backend, native_bf16
from monitor.models.graph import DenseShapes, row_buckets

log = get_logger(__name__)

SHORTEST = 2  # tokens in the shortest message a tokenizer makes: its start and end markers
SMALL_GRID = ((1, 16), (8, 16), (64, 16), (1, 64), (8, 64), (64, 64))  # (size, width) where nothing is built per shape
# oneDNN keeps this many primitives (ONEDNN_PRIMITIVE_CACHE_CAPACITY), least recently used out first
PRIMITIVE_CACHE_DEFAULT = 1024


@dataclass(frozen=True, slots=True)
class WarmUp:
    """What a warm-up ran and how long it took."""

    seconds: float
    batches: int  # forward passes over synthetic batches, all models together
    row_counts: int  # row counts built through the dense layers alone

    @property
    def shapes(self) -> int:
        """Distinct shapes met: the batches' (size, width) and the dense layers' row counts."""
        return self.batches + self.row_counts


def batch_lengths(max_size: int, max_tokens: int, max_length: int) -> list[list[int]]:
    """Token counts per message of the batches a full warm-up runs through one model: every size the
    batcher can cut at the shortest width, then every width it can pad to, as one message."""
    fits = max(1, min(max_size, max_tokens // SHORTEST))
    by_size = [[SHORTEST] * size for size in range(1, fits + 1)]
    by_width = [[width] for width in range(1, max_length + 1) if width != SHORTEST]
    return by_size + by_width


def small_grid(max_size: int, max_length: int) -> list[list[int]]:
    """Token counts per message of the few batches run where nothing is built per shape."""
    return [[min(width, max_length)] * size for size, width in SMALL_GRID if size <= max_size]


def most_rows(max_size: int, max_tokens: int, max_length: int) -> int:
    """The most real tokens one batch can hold."""
    return max(max_length, min(max_tokens, max_size * max_length))


def warm_up(backends: Iterable[Backend], max_size: int, max_tokens: int, every_shape: bool | None = None) -> WarmUp:
    """Run every batch shape the batcher can cut through each backend once, where its first use builds
    something (in the calling thread: run it in a worker, whose torch thread count the others share).
    ``every_shape``: whether shapes built per use are met ahead; None: where the CPU computes bf16 natively."""
    if every_shape is None:
        every_shape = native_bf16(torch.device("cpu")) is not None
    started = time.perf_counter()
    batches = row_counts = built_per_shape = 0
    built: set[tuple[DenseShapes, int]] = set()
    for backend in dict.fromkeys(backends):  # a backend serving several routes is warmed once
        limit = backend.info.max_length
        # bundles; None: nothing built per shape
        dense: DenseShapes | None = getattr(backend, "dense_shapes", None) if every_shape else None
        plan = small_grid(max_size, limit) if dense is None else batch_lengths(max_size, max_tokens, limit)
        for lengths in plan:
            backend.forward(backend.collate([[1] * n for n in lengths], [False] * len(lengths)))
        batches += len(plan)
        most = most_rows(max_size, max_tokens, limit)
        if dense is not None and (dense, most) not in built:
            built.add((dense, most))
            rows = row_buckets(most)
            dense.build(rows)
            row_counts += len(rows)
            built_per_shape += DenseShapes.KINDS * len(rows)
        if dense is not None:
            built_per_shape += len(backend.info.tasks) * max_size  # a head per size (an upper bound: heads of one width share)
    report = WarmUp(time.perf_counter() - started, batches, row_counts)
    log.info("models warmed up", seconds=round(report.seconds, 2), batches=batches, row_counts=row_counts)
    capacity = int(os.environ.get("ONEDNN_PRIMITIVE_CACHE_CAPACITY") or PRIMITIVE_CACHE_DEFAULT)
    if built_per_shape > capacity:
        log.warning("the warm-up built more kernels than oneDNN keeps: first uses will be paid again under load",
                    kernels=built_per_shape, capacity=capacity,
                    fix="set ONEDNN_PRIMITIVE_CACHE_CAPACITY above that number, or lower batch.max_tokens")
    return report
