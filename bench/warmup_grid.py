"""The daemon with the warm-up it had before it met every batch shape: six shapes per model.

    python -m bench.warmup_grid --config FILE run

For ``bench/throughput.py --cold-start`` only: the same daemon, started as a pod was before, so
one run of the benchmark compares a fresh daemon's first pass over a stream with both warm-ups.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator


@contextlib.contextmanager
def grid_warm_up() -> Iterator[None]:
    """While open, ``Classifier.warm_up`` runs sizes 1, 8 and 64 at widths 16 and 64 through every model."""
    from monitor.models.classifier import Classifier
    from monitor.models.warmup import WarmUp, small_grid

    def grid(self: Classifier, max_size: int = 64, max_tokens: int = 8192) -> WarmUp:
        started, batches = time.perf_counter(), 0
        for route in self.routes.values():
            for backend in route.backends:
                for lengths in small_grid(64, backend.info.max_length):
                    backend.forward(backend.collate([[1] * n for n in lengths], [False] * len(lengths)))
                    batches += 1
        return WarmUp(time.perf_counter() - started, batches, 0)

    every_shape = Classifier.warm_up
    Classifier.warm_up = grid  # type: ignore[method-assign]
    try:
        yield
    finally:
        Classifier.warm_up = every_shape  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    from monitor.cli import main as cli

    with grid_warm_up():
        return cli(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
