"""Detection quality of the product as shipped: real texts, the real models, the default settings.

    python bench/detection.py [--seeds 1,2,3] [--langs en,zh] [--days 4] [--weekend 0.2] [--sensitivity medium]
                              [--write-stream DIR] [--json]

For each language and seed, ``bench/streams.py`` builds days of message-level traffic from real
texts (daily cycle, quiet nights, syndicated copies, chat on top) with events injected; every
message carries the shipped models' prediction for its text (``bench/texts.py``: classified once,
then read from a cache, so a run takes about a minute) and goes through ``monitor.backtest`` with
the default settings: every default rule, the lifecycle, incident grouping. Every firing
notification counts (reminders do not), from the first hour on, warm-up day included.

Prints one row per language and seed, then per event kind (recall, or for events that must
not alert, how many notifications they raised and how many fell by chance in the same clock
window and topics on a day with nothing injected there; median delay in buckets) and false
notifications per rule. ``--write-stream DIR`` also writes each stream as raw JSON lines with its events file,
so that ``monitor backtest STREAM --events EVENTS`` can be checked against the same numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.streams import DAY, Stream, build_stream  # noqa: E402
from bench.texts import POOLS, load_pools  # noqa: E402
from monitor.backtest import replay  # noqa: E402
from monitor.records import Enriched, Message, SourcePosition  # noqa: E402
from monitor.scoring import Score, alert_topics, score  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.trends import TrendStore  # noqa: E402
from monitor.trends.store import TextFeatures  # noqa: E402


def records(stream: Stream) -> list[Enriched]:
    """The stream as the daemon's enriched records."""
    out = []
    for i, (t, text) in enumerate(stream.messages):
        msg = Message(f"{stream.lang}-{stream.seed}-{i}", text.text, t, text.source, text.lang,
                      SourcePosition("bench", 0, i))
        out.append(Enriched(msg, text.prediction, t))
    return out


def run(stream: Stream, settings: Settings, features: dict[str, TextFeatures]) -> tuple[Score, int, float]:
    """One stream through the backtest; its score, notifications sent and seconds taken."""
    recs = records(stream)
    missing = sorted({r.message.text for r in recs} - set(features))
    if missing:
        features.update(zip(missing, TrendStore().text_features(missing)))
    started = time.perf_counter()
    result = replay(recs, settings, features=lambda r: features[r.message.text])
    seconds = time.perf_counter() - started
    bucket = settings.trends.bucket_seconds
    s = score(result.notifications, stream.events, bucket, topics=len(stream.topics), span_seconds=stream.days * DAY)
    return s, len(result.notifications), seconds


def write_stream(stream: Stream, folder: Path) -> None:
    """Raw JSON lines (what a producer would send) and the events file beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{stream.lang}-seed{stream.seed}"
    with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as fh:
        for i, (t, text) in enumerate(stream.messages):
            fh.write(json.dumps({"id": f"{name}-{i}", "timestamp": t, "text": text.text, "source": text.source,
                                 "lang": text.lang}, ensure_ascii=False) + "\n")
    with open(folder / f"{name}.events.jsonl", "w", encoding="utf-8") as fh:
        for e in stream.events:
            fh.write(json.dumps(e.to_json()) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--langs", default="en,zh")
    parser.add_argument("--days", type=float, default=4.0)
    parser.add_argument("--weekend", type=float, default=None,
                        help="Saturdays and Sundays at this share of a weekday's volume (streams start on a Monday; "
                             "use with --days 15 or more)")
    parser.add_argument("--sensitivity", default=None, help="low | medium | high (default: the settings' default)")
    parser.add_argument("--write-stream", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print every event's outcome and every false notification")
    args = parser.parse_args()
    settings = Settings(**({"sensitivity": args.sensitivity} if args.sensitivity else {}))
    langs = args.langs.split(",")
    pools = load_pools([p for p in POOLS if p.split("-")[0] in langs])
    features: dict[str, TextFeatures] = {}
    print(f"sensitivity {settings.sensitivity}; rules: {', '.join(r.name for r in settings.rules)}")
    print(f"{'stream':<10} {'messages':>8} {'topics':>6} {'notified':>8} {'false':>5} {'false/topic-day':>15} "
          f"{'recall':>7} {'seconds':>7}")
    scores: dict[str, list[Score]] = {}
    chance: dict[str, Counter[str]] = {}
    for lang in langs:
        for seed in (int(s) for s in args.seeds.split(",")):
            stream = build_stream(pools, lang, seed, args.days, weekend=args.weekend)
            if args.write_stream:
                write_stream(stream, args.write_stream)
            s, sent, seconds = run(stream, settings, features)
            if args.verbose:
                explain(s, stream)
            scores.setdefault(lang, []).append(s)
            chance.setdefault(lang, Counter()).update(by_chance(s, stream))
            positives = [r for r in s.events if r.event.alert]
            recall = sum(r.detected_at is not None for r in positives) / max(1, len(positives))
            print(f"{lang + '/' + str(seed):<10} {len(stream.messages):>8} {len(stream.topics):>6} {s.notifications:>8} "
                  f"{s.false:>5} {s.false_per_topic_day:>15.2f} {recall:>7.0%} {seconds:>7.1f}")
    report(scores, args.json, chance)


def explain(s: Score, stream: Stream) -> None:
    """Each event with its topic's usual rate at the time, and each false notification."""
    from datetime import datetime, timezone

    def when(t: float) -> str:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%a %H:%M")

    for r in s.events:
        e = r.event
        before = [x for t, x in stream.messages if e.start - 3600 <= t < e.start and x.topic == e.topic]
        during = [x for t, x in stream.messages if e.start <= t < e.end and x.topic == e.topic]
        share = ""
        if e.kind == "negative-share":  # what the event put into the stream, as the model reads it
            def neg(xs: list) -> float:  # type: ignore[type-arg]
                return sum(x.sentiment == "negative" for x in xs) / max(1, len(xs))
            p0, p1 = neg(before), neg(during)
            share = f" negative share {p0:.2f} -> {p1:.2f} over {len(during)} stories"
            per_day = sum(1 for _, x in stream.messages if x.topic == e.topic) / stream.days
            fastest = fastest_buckets(p0, p1, len(during) / ((e.end - e.start) / 60), per_day)
            share += f"; any rule at 0.5 false alarms a day needs about {fastest:.0f} buckets" if fastest else ""
        delay = f"{r.delay_buckets:.1f}" if r.delay_buckets is not None else "-"
        print(f"    {e.kind:<15} {e.topic:<14} {when(e.start)} rate before {len(before) / 60:5.1f}/min "
              f"delay {delay} raised {r.raised}{share}")
    for at, alert in s.false_notes:
        print(f"    FALSE {when(at)} {','.join(p.rule + '/' + p.key for p in (alert.parts or (alert,)))}: {alert.summary[:150]}")


def fastest_buckets(p0: float, p1: float, per_minute: float, per_day: float, false_per_day: float = 0.5) -> float | None:
    """The least expected delay, in one-minute buckets, with which any detector can find a shift of a
    topic's negative share from ``p0`` to ``p1`` while raising ``false_per_day`` false alarms a day:
    log(mean stories between false alarms) / KL(p1 || p0) stories (Lorden 1971; Lai 1998), at the
    event's rate. Asymptotic, so about right at these sizes, not exact."""
    if not 0 < p0 < p1 < 1 or per_minute <= 0:
        return None
    kl = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    return math.log(per_day / false_per_day) / kl / per_minute


def by_chance(s: Score, stream: Stream, grace: float = 900.0) -> Counter[str]:
    """Per must-not-alert kind, the false notifications in a control window: the same clock times and
    topics on another scored day (the first that holds no must-not event there), where nothing was
    injected. What a must-not event "raised" is only its doing where it clearly exceeds this: a day
    has background false alarms, and a window of six hours over every topic catches some of them."""
    out: Counter[str] = Counter()
    must_not = [e for e in stream.events if not e.alert]
    for e in must_not:
        day = int((e.start - stream.start) // DAY)
        for other in range(1, int(stream.days)):
            shift = (other - day) * DAY
            lo, hi = e.start + shift, e.end + shift + grace
            if other == day or any(x.start <= hi and lo <= x.end + grace for x in must_not
                                   if x.topic in ("*", e.topic) or e.topic == "*"):
                continue
            out[e.kind] += sum(1 for at, alert in s.false_notes if lo <= at <= hi
                               and any(e.touches(t) for t in alert_topics(alert)))
            break
    return out


def report(scores: dict[str, list[Score]], as_json: bool, chance: dict[str, Counter[str]] | None = None) -> None:
    """Per language: event kinds across seeds, false notifications per rule, medians."""
    summary = {}
    for lang, rows in scores.items():
        print(f"\n{lang}: per event kind, {len(rows)} seeds")
        print(f"  {'kind':<16} {'alert?':>6} {'events':>6} {'detected':>8} {'raised':>6} {'by chance':>9} "
              f"{'median delay':>12}  rules")
        kinds: dict[str, dict[str, object]] = {}
        for s in rows:
            for kind, k in s.by_kind().items():
                agg = kinds.setdefault(kind, {"alert": k["alert"], "events": 0, "detected": 0, "raised": 0,
                                              "delays": [], "rules": set()})
                for name in ("events", "detected", "raised"):
                    agg[name] += k[name]  # type: ignore[operator]
                agg["delays"] += k["delays"]  # type: ignore[operator]
                agg["rules"] |= set(k["rules"])  # type: ignore[operator]
        for kind, k in kinds.items():
            delays = k["delays"]
            med = f"{statistics.median(delays):.1f}" if delays else "-"  # type: ignore[arg-type]
            print(f"  {kind:<16} {'yes' if k['alert'] else 'no':>6} {k['events']:>6} "
                  f"{k['detected'] if k['alert'] else '':>8} {k['raised'] if not k['alert'] else '':>6} "
                  f"{(chance or {}).get(lang, Counter())[kind] if not k['alert'] else '':>9} {med:>12}  "
                  f"{', '.join(sorted(k['rules']))}")  # type: ignore[arg-type]
        by_rule: Counter[str] = Counter()
        for s in rows:
            by_rule.update(s.false_by_rule)
        per_day = [s.false_per_topic_day for s in rows]
        print(f"  false notifications per topic-day: median {statistics.median(per_day):.2f} "
              f"(seeds: {', '.join(f'{v:.2f}' for v in per_day)}); alerts in them by rule: {dict(by_rule)}")
        summary[lang] = {"false_per_topic_day": per_day, "by_chance": dict((chance or {}).get(lang, Counter())), "kinds": {k: {**v, "rules": sorted(v["rules"])}  # type: ignore[call-overload]
                                                                     for k, v in kinds.items()}}
    if as_json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
