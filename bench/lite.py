"""The daemon, or the limit, with every bundle's encoder cut to its first N layers.

    python -m bench.lite N --config FILE run

For the benchmark's pipeline row only (``bench/throughput.py --lite-layers N``): the predictions
are meaningless. With the arithmetic a fraction of the full encoder's, what is left of the
end-to-end time is the pipeline around the model (Kafka, decoding, tokenising, batching,
trends, alerts, publishing), which is what an accelerator would meet once the encoder is fast.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator


@contextlib.contextmanager
def lite_encoders(layers: int) -> Iterator[None]:
    """While open, bundles load with only the first ``layers`` encoder layers."""
    import monitor.models.bundle as bundle

    build = bundle.build_stack

    def cut(path: Any, manifest: dict[str, Any]) -> Any:
        stack, text = build(path, manifest)
        stack.bert.encoder.layer = stack.bert.encoder.layer[:layers]
        return stack, text

    bundle.build_stack = cut
    try:
        yield
    finally:
        bundle.build_stack = build


def main(argv: list[str]) -> int:
    from monitor.cli import main as cli

    with lite_encoders(int(argv[0])):
        return cli(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
