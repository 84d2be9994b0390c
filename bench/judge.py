"""How many enriched records one judge process handles per second, end to end on a real broker.

    python bench/judge.py [--records 300000] [--partitions 1] [--daemon-messages 2000] [--json FILE]

The judge tier must keep up with many classifiers: the bar is 30,000 enriched records/s per
process. Records are written as the classify tier writes them (keyed by label, with their text
features; real texts from the bundled sample, five labels, three sentiments, event times spread
over hours at a daily cycle), then one ``monitor run --role judge`` process with the default
settings and rules reads them: fetch, decode, trends, near-duplicate index, rules, and a
transaction per step with its changelog records, closed buckets and offsets. The rate counts from
its first record to its committed offset reaching the end. Then, on the same broker, the all-in-one
daemon's ceiling (``bench/throughput.py``'s end-to-end row: default settings, shipped models, the
bundled sample), so the judge's rate reads against it. Starts its own broker on port 39192.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support import Broker, free_port, sample_texts  # noqa: E402

LABELS = ("business", "entertainment", "politics", "sport", "tech")


class JudgeBroker(Broker):
    """The bench broker with a data folder of its own (other benchmarks may run theirs)."""

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env["KAFKA_DATA"] = str(REPO / "bench" / "results" / "kafka-judge")
        return env

    @property
    def pid(self) -> int | None:
        try:
            return int((REPO / "bench" / "results" / "kafka-judge" / "broker.pid").read_text())
        except (OSError, ValueError):
            return None


def enriched_values(n: int, hours: float, seed: int = 1) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs as the classify tier publishes them."""
    from monitor.emit import enriched_record
    from monitor.records import Enriched, Message, Prediction, SourcePosition, TaskResult
    from monitor.trends import TrendStore

    rng = random.Random(seed)
    texts = sample_texts(n)
    features = TrendStore().text_features(texts)
    start = time.time() - hours * 3600
    times = sorted(start + hours * 3600 * _daily(rng.random()) for _ in range(n))
    out = []
    for i, (text, feats, t) in enumerate(zip(texts, features, times)):
        label = rng.choice(LABELS)
        sentiment = rng.choices(("negative", "neutral", "positive"), (0.3, 0.5, 0.2))[0]
        dist = {s: (0.8 if s == sentiment else 0.1) for s in ("negative", "neutral", "positive")}
        message = Message(f"m{i}", text, t, "bench", "en", SourcePosition("bench.in", i % 6, i // 6), consumed_at=t)
        prediction = Prediction({"topic": TaskResult(label, 0.9, {label: 0.9}, "topic@bench"),
                                 "sentiment": TaskResult(sentiment, 0.8, dist, "sentiment@bench")})
        _, key, value, _ = enriched_record("bench.enriched", Enriched(message, prediction, t), feats)
        out.append((key or b"", value))
    return out


def _daily(u: float) -> float:
    """A position in [0, 1) drawn with more mass in the day than at night (inverse of a smooth cycle)."""
    return (u + 0.08 * math.sin(2 * math.pi * u)) % 1.0


async def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def create_topics(bootstrap: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([
            NewTopic("bench.in", 6, 1), NewTopic("bench.enriched", partitions, 1),
            NewTopic("bench.changelog", partitions, 1, topic_configs={"cleanup.policy": "compact"}),
            NewTopic("bench.aggregates", 1, 1), NewTopic("bench.alerts", 1, 1), NewTopic("bench.dlq", 1, 1)])
    finally:
        await admin.close()


def write_config(path: Path, bootstrap: str, port: int) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "role": "judge",
        "kafka": {"bootstrap_servers": bootstrap, "input_topics": ["bench.in"], "output_topic": "bench.enriched",
                  "dead_letter_topic": "bench.dlq", "group_id": "bench"},
        "tiers": {"changelog_topic": "bench.changelog", "aggregates_topic": "bench.aggregates",
                  "alerts_topic": "bench.alerts"},
        "http": {"host": "127.0.0.1", "port": port},
        "log": {"format": "json", "level": "warning"},
        "state": {"dir": str(path.parent / "state")},
    }))
    return path


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(port: int, name: str) -> float:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


class Progress:
    """The judge group's committed offsets against the enriched topic's end (one client each, reused)."""

    def __init__(self, bootstrap: str, partitions: int) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self.tps = [TopicPartition("bench.enriched", p) for p in range(partitions)]

    async def __aenter__(self) -> Progress:
        await self.admin.start()
        await self.consumer.start()
        self.ends = await self.consumer.end_offsets(self.tps)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def done(self) -> bool:
        committed = await self.admin.list_consumer_group_offsets("bench-judge")
        return all(tp in committed and committed[tp].offset >= self.ends[tp] for tp in self.tps)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = REPO / "bench" / "results" / "judge"
    workdir.mkdir(parents=True, exist_ok=True)
    broker = JudgeBroker(port=39192)
    broker.start()
    try:
        await create_topics(broker.bootstrap, args.partitions)
        started = time.perf_counter()
        values = enriched_values(args.records, args.hours)
        prepared = time.perf_counter() - started
        await produce(broker.bootstrap, "bench.enriched", values)
        port = free_port()
        config = write_config(workdir / "judge.yaml", broker.bootstrap, port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        profile = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
        proc = subprocess.Popen([sys.executable, *profile, "-m", "monitor.cli", "--config", str(config), "run"], env=env,
                                stdout=open(workdir / "judge.log", "wb"), stderr=subprocess.STDOUT)
        try:
            while metric(port, "textmon_judge_records_total") == 0:
                if proc.poll() is not None:
                    raise SystemExit(f"judge exited {proc.returncode}; see {workdir / 'judge.log'}")
                await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            first = metric(port, "textmon_judge_records_total")
            cpu0 = cpu_seconds(proc.pid)
            async with Progress(broker.bootstrap, args.partitions) as progress:
                while not await progress.done():
                    await asyncio.sleep(0.1)
            seconds = time.perf_counter() - t0
            usage = f"{100 * (cpu_seconds(proc.pid) - cpu0) / seconds:.0f} % of a core"
            changelog = metric(port, "textmon_judge_changelog_records_total")
            steps = metric(port, "textmon_judge_step_seconds_count")
            alerts = metric(port, "textmon_alerts_total")
        finally:
            proc.send_signal(signal.SIGINT if args.profile else signal.SIGTERM)  # cProfile writes on SIGINT's exit
            proc.wait(60)
        beside = await all_in_one(broker, workdir, args.daemon_messages) if args.daemon_messages else None
    finally:
        broker.stop()
    counted = args.records - first
    return {
        "records": args.records, "counted_in_window": int(counted), "partitions": args.partitions,
        "hours_of_event_time": args.hours, "seconds": round(seconds, 2),
        "records_per_second": round(counted / seconds), "changelog_records": int(changelog), "steps": int(steps),
        "alerts": int(alerts), "judge_cpu": usage, "prepare_seconds": round(prepared, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "all_in_one": beside,
    }


async def all_in_one(broker: JudgeBroker, workdir: Path, messages: int) -> dict[str, Any]:
    """The all-in-one daemon's ceiling in the same run, on the same broker: ``monitor run`` with the
    default settings and the shipped models over the bundled sample (``bench/throughput.py``'s
    end-to-end row), so the judge's rate reads as how many such daemons one judge keeps up with."""
    from bench.throughput import default_precisions, measure_daemon

    precision = default_precisions().split(",")[0]
    found = await measure_daemon(broker, sample_texts(messages), precision, workdir)
    return {"messages": messages, "precision": precision, "messages_per_s": round(found["messages_per_s"], 1),
            "cpu_percent": round(found["cpu_percent"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--hours", type=float, default=6.0, help="event time the records span")
    parser.add_argument("--partitions", type=int, default=1, help="enriched partitions (one judge owns them all)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None, help="write the judge's cProfile statistics here")
    parser.add_argument("--daemon-messages", type=int, default=2000,
                        help="then measure the all-in-one daemon on this many sample messages (0: skip)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"{'records':>10} {'seconds':>8} {'records/s':>10} {'changelog':>10} {'steps':>6} {'alerts':>6}  judge cpu")
    print(f"{result['counted_in_window']:>10} {result['seconds']:>8} {result['records_per_second']:>10} "
          f"{result['changelog_records']:>10} {result['steps']:>6} {result['alerts']:>6}  {result['judge_cpu']}")
    if result["all_in_one"]:
        d = result["all_in_one"]
        print(f"all-in-one daemon, same run and broker, default settings ({d['precision']}), {d['messages']} sample "
              f"messages: {d['messages_per_s']} msg/s at {d['cpu_percent']} % CPU; one judge counts what "
              f"{result['records_per_second'] / d['messages_per_s']:.0f} such daemons classify")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
