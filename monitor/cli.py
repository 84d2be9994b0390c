"""The ``monitor`` command: run, replay, classify, backtest, config, models, feedback export and label-studio,
train, evaluate, prepare-models."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Sequence

from pydantic import ValidationError

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # The model pipeline commands own their arguments.
    if argv and argv[0] in ("train", "evaluate", "prepare-models"):
        from monitor.models import commands

        handler = {"train": commands.train_main, "evaluate": commands.evaluate_main, "prepare-models": commands.prepare_main}
        return handler[argv[0]](argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_CONFIG
    return int(args.func(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Streaming topic and sentiment monitoring on Kafka.")
    parser.add_argument("--config", type=Path, help="YAML or TOML settings file (also MONITOR_CONFIG)")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="consume, classify, trend and alert until SIGTERM/SIGINT")
    run.add_argument("--role", choices=("all", "classify", "judge", "deliver"), default=None,
                     help="all (default, also MONITOR_ROLE): every stage in one process; classify, judge or deliver: "
                          "one tier of the two-tier layout (deploy/README.md)")
    run.set_defaults(func=_run)
    cfg = sub.add_parser("config", help="print the effective settings with secrets masked")
    cfg.set_defaults(func=_config)
    rep = sub.add_parser("replay", help="produce a JSON-lines stream (default: the bundled sample) to a topic")
    rep.add_argument("file", nargs="?", type=Path, help="a .jsonl or .jsonl.gz file")
    rep.add_argument("--topic", help="target topic (default: the first input topic)")
    rep.add_argument("--rate", type=float, default=None, help="messages per second (default: as fast as possible)")
    rep.add_argument("--limit", type=int, default=None, help="send at most this many messages")
    rep.add_argument("--retime", action="store_true", help="shift event times so the stream ends now")
    rep.set_defaults(func=_replay)
    bt = sub.add_parser("backtest", help="replay a timestamped stream through trends and rules; print the alerts")
    bt.add_argument("file", type=Path, help=".jsonl or .jsonl.gz of enriched records or raw messages")
    bt.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    bt.add_argument("--events", type=Path, default=None,
                    help="JSON lines of known events (kind, topic, start, end, alert): score the alerts against them")
    bt.set_defaults(func=_backtest)
    cls = sub.add_parser("classify", help="classify lines or JSON objects from stdin; one JSON line out per input")
    cls.add_argument("--batch-size", type=int, default=32)
    cls.set_defaults(func=_classify)
    from monitor.shadow.client import add_parser

    add_parser(sub).set_defaults(func=_models)  # the running daemon's lineup: status, candidate, drop, promote, rollback
    fb = sub.add_parser("feedback", help="analysts' corrections on the feedback topic")
    fb_sub = fb.add_subparsers(dest="feedback_command", required=True)
    exp = fb_sub.add_parser("export", help="write the topic's latest correction per message id as JSON lines")
    exp.add_argument("--out", type=Path, help="file to write (default: standard output)")
    exp.add_argument("--topic", help="feedback topic (default: feedback.topic or <first input topic>.feedback)")
    exp.set_defaults(func=_feedback_export)
    from monitor.feedback.labelstudio.commands import add_parser as add_label_studio

    add_label_studio(fb_sub).set_defaults(func=_label_studio)
    return parser


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pydantic_settings import SettingsError

    from monitor.settings import ConfigFileError, load_settings

    try:
        return load_settings(args.config)
    except ValidationError as exc:
        lines = [f"invalid configuration ({exc.error_count()} error(s)):"]
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(root)"
            lines.append(f"  {field}: {err['msg']} (got {err.get('input')!r})")
        print("\n".join(lines), file=sys.stderr)
    except (ConfigFileError, SettingsError) as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        print(f"invalid configuration: {exc}{cause}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)


def _config(args: argparse.Namespace) -> int:
    from monitor.settings import masked

    print(json.dumps(masked(_settings(args)), indent=2, ensure_ascii=False, default=str))
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.role is not None:
        settings = settings.model_copy(update={"role": args.role})
    from monitor.logs import configure_logging
    from monitor.models.base import ModelLoadError
    from monitor.sinks import SinkConfigError

    configure_logging(settings.log.level, settings.log.format)
    try:
        daemon = _daemon_for(settings)
    except SinkConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.request_stop)
        return await daemon.run()

    from monitor.checkpoint import CheckpointError
    from monitor.kafka_config import KafkaAccessError

    try:
        return asyncio.run(main())
    except KafkaAccessError as exc:
        print(f"cannot connect to Kafka: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ModelLoadError as exc:
        print(f"cannot load models: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CheckpointError as exc:
        print(f"cannot restore trend state: {exc}", file=sys.stderr)
        return 1


def _daemon_for(settings):  # type: ignore[no-untyped-def]
    """The process for the role: judge and delivery never import the models."""
    if settings.role == "judge":
        from monitor.tiers.judge import Judge

        return Judge(settings)
    if settings.role == "deliver":
        from monitor.tiers.deliver import Delivery

        return Delivery(settings)
    from monitor.daemon import Daemon

    return Daemon(settings)


def _replay(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from monitor.sources.replay import SAMPLE_STREAM, replay

    path = args.file or SAMPLE_STREAM
    topic = args.topic or settings.kafka.input_topics[0]
    stats = asyncio.run(
        replay(path, topic, settings.kafka, rate=args.rate, limit=args.limit, retime=args.retime,
               time_field=settings.input.time_field)
    )
    print(json.dumps({"file": str(path), "topic": topic, "messages": stats.messages, "seconds": round(stats.seconds, 2)}))
    return 0


def _backtest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from monitor.backtest import backtest, print_result, print_score

    from monitor.scoring import EventsFileError, read_events

    for path in (args.file, args.events):
        if path is not None and not path.is_file():
            print(f"no such file: {path}", file=sys.stderr)
            return EXIT_CONFIG
    try:
        events = read_events(args.events) if args.events else None
    except EventsFileError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    result = backtest(args.file, settings)
    print_result(result, sys.stdout, args.json)
    if events is not None:
        print_score(result, events, settings.trends.bucket_seconds, sys.stdout, args.json)
    return 0


def _models(args: argparse.Namespace) -> int:
    from monitor.shadow.client import run

    return run(args, _settings(args))


def _classify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from monitor.classify_stdin import classify_stream

    return classify_stream(settings, sys.stdin, sys.stdout, args.batch_size)


def _feedback_export(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from monitor.feedback.corrections import encode_record
    from monitor.feedback.snapshot import SnapshotError, read
    from monitor.settings import feedback_topic

    source = f"kafka:{args.topic or feedback_topic(settings)}"
    try:
        snapshot = read(source, settings.kafka)
    except SnapshotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    lines = [encode_record(c)[1].decode("utf-8") + "\n" for c in snapshot.corrections]
    if args.out:
        args.out.write_text("".join(lines), encoding="utf-8")
    else:
        sys.stdout.write("".join(lines))
    print(json.dumps({"source": source, "corrections": len(lines), "superseded": snapshot.superseded,
                      "invalid": len(snapshot.invalid), "out": str(args.out or "-")}), file=sys.stderr)
    return 0


def _label_studio(args: argparse.Namespace) -> int:
    from monitor.feedback.labelstudio.commands import run

    return run(args, _settings(args))


if __name__ == "__main__":
    raise SystemExit(main())
