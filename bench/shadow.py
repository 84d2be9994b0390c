"""What a candidate in shadow costs: one inference worker's throughput with and without it.

    python bench/shadow.py [--messages 2048] [--batch 32] [--rates 0,0.25,1] [--json FILE]

The live models are the shipped English bundle; the candidate is a second copy of it (a retrained
version is the same size). One worker thread with one torch thread, as the daemon runs one per
core, classifies the bundled sample's texts in length-sorted batches through the same function
the daemon calls (``monitor.inference.classify_batch``), with the candidate sampled at each rate.
The event loop's part (comparison, and the two shadow trend stores and alert engines) is timed
apart, per message.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support import sample_texts  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rates", default="0,0.25,1")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from monitor.inference import classify_batch
    from monitor.models.classifier import Classifier
    from monitor.records import Enriched, Message, SourcePosition
    from monitor.settings import CandidateSettings, ModelSet, ModelSettings, Settings
    from monitor.shadow.compare import Comparison
    from monitor.shadow.judgement import ShadowJudgement
    from monitor.shadow.lineup import load_candidate
    from monitor.shadow.sampler import BatchSampler

    torch.set_num_threads(1)
    settings = ModelSettings(default=ModelSet(bundle="bundled:en-news"), by_language={}, device="cpu")
    live = Classifier.load(settings)
    live.warm_up(args.batch, 8192)
    candidate = load_candidate(CandidateSettings(bundle="bundled:en-news"), live, settings, args.batch, 8192).classifier
    texts = sorted(sample_texts(args.messages), key=len)
    tokens = live.tokenize("default", texts)
    batches = [range(i, min(i + args.batch, len(texts))) for i in range(0, len(texts), args.batch)]
    rows = []
    for rate in [float(r) for r in args.rates.split(",")]:
        sampler = BatchSampler(rate) if rate > 0 else None
        started = time.process_time()
        wall = time.perf_counter()
        results = []
        for b in batches:
            shadow = candidate if sampler is not None and sampler.take() else None
            results.append(classify_batch("default", [texts[i] for i in b], [tokens[i] for i in b], [live] * len(b),
                                          live, shadow))
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
        rows.append({"rate": rate, "msg_per_s": round(len(texts) / wall, 1), "cpu_ms_per_msg": round(1000 * cpu / len(texts), 3)})
        print(f"sample_rate {rate:<5} {rows[-1]['msg_per_s']:>8} msg/s  {rows[-1]['cpu_ms_per_msg']:>7} CPU ms/msg", flush=True)
    # the event loop's share: comparing and judging both sides, per shadowed message
    now = time.time()
    enriched = [Enriched(Message(str(i), texts[i], now, "bench", "en", SourcePosition("news", 0, i)), p, now)
                for b, r in zip(batches, results) for i, p in zip(b, r.predictions)]
    shadowed = [p for r in results for p in (r.shadow or [])]
    comparison, judgement = Comparison(), ShadowJudgement(Settings())
    store_features = judgement.sides["live"].trends.text_features(texts)
    started = time.perf_counter()
    for b in batches:
        live_part = enriched[b.start:b.stop]
        comparison.observe([e.prediction for e in live_part], shadowed[b.start:b.stop])
        judgement.observe(live_part, [Enriched(e.message, p, e.classified_at)
                                      for e, p in zip(live_part, shadowed[b.start:b.stop])], store_features[b.start:b.stop])
    loop_us = 1e6 * (time.perf_counter() - started) / len(texts)
    print(f"event loop: {loop_us:.1f} µs per shadowed message (comparison and both shadow judgements)")
    base = rows[0]["cpu_ms_per_msg"]
    for row in rows:
        row["cpu_vs_live"] = round(row["cpu_ms_per_msg"] / base, 3)
    result = {"cpu": platform.processor() or platform.machine(), "torch_threads": 1, "batch": args.batch,
              "messages": len(texts), "precision": live.precision, "rows": rows, "event_loop_us_per_message": round(loop_us, 1)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
