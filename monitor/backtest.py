"""``monitor backtest FILE``: replay a timestamped stream through trends and rules, offline.

Reads JSON lines (optionally gzipped): enriched records as the daemon publishes them, or
raw messages that are classified first with the configured models. Uses the same trend
store, detectors and lifecycle as the daemon, so what it prints is what would have fired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from monitor.alerts import AlertEngine, build_rule
from monitor.decode import Decoder
from monitor.trends.store import representable
from monitor.records import Alert, DeadLetter, Enriched, Message, Prediction, RawRecord, SourcePosition, TaskResult
from monitor.settings import Settings
from monitor.scoring import KnownEvent, score
from monitor.sources.replay import read_lines
from monitor.trends import ALL
from monitor.trends.store import TextFeatures


JUDGE_EVERY_SECONDS = 5.0


@dataclass(slots=True)
class BacktestResult:
    """Notifications with the event time they would have gone out, and what was read."""

    notifications: list[tuple[float, Alert]]
    records: int
    skipped: int
    first: float = 0.0  # event time of the first and last record read
    last: float = 0.0
    topics: frozenset[str] = frozenset()  # topic labels seen


def enriched_from_json(obj: dict[str, Any], index: int) -> Enriched:
    """Rebuild an ``Enriched`` from the output-topic JSON."""
    tasks = {}
    for task in ("topic", "sentiment"):
        data = obj.get(task)
        if data:
            tasks[task] = TaskResult(data["label"], float(data["score"]), dict(data["distribution"]), data.get("model", ""))
    src = obj.get("input") or {}
    event_time = float(obj["event_time"])
    if not representable(event_time):
        raise ValueError(f"event_time {event_time} is not a time trends can hold")
    msg = Message(
        id=str(obj.get("id", index)), text=obj.get("text", ""), event_time=event_time,
        source=obj.get("source", ""), language=obj.get("language"),
        position=SourcePosition(src.get("topic", "backtest"), int(src.get("partition", 0)), int(src.get("offset", index))),
    )
    return Enriched(msg, Prediction(tasks), float(obj.get("classified_at", obj["event_time"])))


def _records(path: Path, settings: Settings, batch_size: int) -> Iterator[Enriched | None]:
    """Enriched records in file order; None for lines that cannot be used."""
    decoder = Decoder(settings.input)
    classifier = None
    pending: list[Message] = []

    def flush() -> Iterator[Enriched]:
        assert classifier is not None
        by_route: dict[str, list[Message]] = {}
        for m in pending:
            by_route.setdefault(classifier.route_for(m.language, m.text), []).append(m)
        done: dict[int, Enriched] = {}
        for route, messages in by_route.items():
            for m, p in zip(messages, classifier.forward(classifier.encode(route, [m.text for m in messages]))):
                done[m.position.offset] = Enriched(m, p, m.event_time)
        for m in pending:
            yield done[m.position.offset]
        pending.clear()

    for index, line in enumerate(read_lines(path)):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # invalid JSON, an integer too long to read, nesting too deep
            yield None
            continue
        if not isinstance(obj, dict):
            yield None
            continue
        if isinstance(obj.get("topic"), dict) or isinstance(obj.get("sentiment"), dict):
            try:
                yield enriched_from_json(obj, index)
            except (KeyError, TypeError, ValueError, OverflowError, RecursionError):
                yield None
            continue
        decoded = decoder.decode(RawRecord(SourcePosition("backtest", 0, index), line.encode()))
        if isinstance(decoded, DeadLetter):
            yield None
            continue
        if classifier is None:
            from monitor.models.classifier import Classifier

            classifier = Classifier.load(settings.models)
        pending.append(decoded)
        if len(pending) >= batch_size:
            yield from flush()
    if pending:
        yield from flush()


def backtest(path: Path, settings: Settings, batch_size: int = 64) -> BacktestResult:
    """Run the file through trends and rules in event-time order of arrival."""
    return replay(_records(path, settings, batch_size), settings, batch_size)


def replay(stream: Iterable[Enriched | None], settings: Settings, batch_size: int = 64,
           features: Callable[[Enriched], TextFeatures] | None = None) -> BacktestResult:
    """Enriched records (None: an unusable line) through trends and rules, as the daemon would judge
    them; ``features`` may supply each record's text features (a benchmark caches them)."""
    from monitor.wiring import trend_config
    from monitor.trends import TrendStore

    # offline there is no partition to wait for: buckets may close from the first record on
    store = TrendStore(replace(trend_config(settings), startup_grace_seconds=0.0))
    engine = AlertEngine([build_rule(r) for r in settings.rules], settings.alerting, settings.trends.warmup_buckets)
    out: list[tuple[float, Alert]] = []
    records = skipped = 0
    first = last = judged_at = 0.0
    last_bucket = None
    for record in stream:
        if record is None:
            skipped += 1
            continue
        records += 1
        t = record.message.event_time
        first, last = (t, t) if records == 1 else (min(first, t), max(last, t))
        bucket = store.index(t)
        # judge as often as the daemon would: at least once per bucket, per batch of records, and every
        # JUDGE_EVERY_SECONDS of event time (live, the open bucket is judged many times a second, so a
        # group_wait of 30 s is 30 s, not the rest of a quiet bucket)
        if last_bucket is not None and (bucket != last_bucket or records % batch_size == 0
                                        or t - judged_at >= JUDGE_EVERY_SECONDS):
            out += [(store.watermark, a) for a in engine.advance(store, record.model_versions)]
            judged_at = t
        last_bucket = bucket
        if features is None:
            store.add(record)
        else:
            store.add_batch([record], features=[features(record)])
    # close everything: the stream has ended
    store.watermark += store.bucket_seconds + settings.trends.allowed_lateness_seconds
    out += [(store.watermark, a) for a in engine.advance(store, {})]
    topics = frozenset(k for k in store.keys() if k != ALL)
    return BacktestResult(out, records, skipped, first, last, topics)


def print_score(result: BacktestResult, events: list[KnownEvent], bucket_seconds: float, out: IO[str],
                as_json: bool) -> None:
    """Score the notifications against known events: per event, then the totals."""
    s = score(result.notifications, events, bucket_seconds, len(result.topics), max(result.last - result.first, 1.0))
    if as_json:
        out.write(json.dumps({"score": s.to_json()}, ensure_ascii=False) + "\n")
        return
    out.write(f"\n{'event':<16} {'topic':<14} {'start (UTC)':<17} {'alert?':<6} {'detected':<8} {'delay':>7}  rules\n")
    for r in s.events:
        when = datetime.fromtimestamp(r.event.start, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        seen = ("yes" if r.detected_at is not None else "no") if r.event.alert else f"{r.raised} raised"
        delay = f"{r.delay_buckets:.1f}" if r.delay_buckets is not None else "-"
        out.write(f"{r.event.kind[:16]:<16} {r.event.topic[:14]:<14} {when:<17} {'yes' if r.event.alert else 'no':<6} "
                  f"{seen:<8} {delay:>7}  {', '.join(sorted(r.rules))}\n")
    out.write(f"{s.notifications} firing notifications, {s.false} false ({s.false_per_topic_day:.2f} per topic-day over "
              f"{s.topic_days:.1f} topic-days); delays in buckets of {bucket_seconds:.0f} s\n")


def print_result(result: BacktestResult, out: IO[str], as_json: bool) -> None:
    """A table for people, or JSON lines for machines."""
    if as_json:
        for at, alert in result.notifications:
            out.write(json.dumps({"at": at, **alert.to_json()}, ensure_ascii=False) + "\n")
        return
    out.write(f"{result.records} records read, {result.skipped} skipped, {len(result.notifications)} notifications\n")
    out.write(f"{'event time (UTC)':<20} {'state':<9} {'rule':<24} {'topic':<14} {'observed':>9} {'expected':>9} {'score':>7}  summary\n")
    for at, a in result.notifications:
        when = datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        state = a.state.value + ("*" if a.reminder else "")
        out.write(f"{when:<20} {state:<9} {a.rule[:24]:<24} {a.key[:14]:<14} {a.observed:>9.3g} {a.expected:>9.3g} "
                  f"{a.score:>7.3g}  {a.summary}\n")
        if a.terms and a.state.value == "firing":
            out.write(f"{'':<20} terms: {', '.join(a.terms)}\n")
