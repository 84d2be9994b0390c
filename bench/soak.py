"""Soak: the daemon's memory over a long run of steady traffic with poison mixed in.

    python bench/soak.py [--minutes 60] [--rate 100] [--sample-seconds 60] [--json bench/results/soak.json]

Starts its own Kafka broker (deploy/local-kafka.sh) and a daemon (`monitor run`, the shipped models),
then produces ``--rate`` messages a second for ``--minutes``: the bundled sample's texts, every
message stamped with the same event time (the producer that once grew the near-duplicate index
without end), one in fifty a poison pill (deep nesting, a 5,000-digit integer, a timestamp of -1
or -1e300, a 5,000-character id). Every ``--sample-seconds`` it prints the daemon's resident and
anonymous memory beside what it has consumed, enriched and dead-lettered; the figures go into
bench/README.md. Memory that keeps rising after the first samples is a leak; a flat line is the goal.
With --tiny the daemon runs the test suite's random-weight classifiers instead of the shipped models:
the state it keeps (trends, the near-duplicate index, outboxes, offsets) is the same, at a fraction
of the CPU, so a small or shared machine can sustain the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.support import Broker, daemon_config, free_port, sample_texts, wait_ready  # noqa: E402

POISON = [
    b'{"text": "a", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"text": "a", "x": ' + b"9" * 5_000 + b"}",
    b'{"text": "a", "timestamp": -1}',
    b'{"text": "a", "timestamp": -1e300}',
    json.dumps({"id": "i" * 5_000, "text": "a"}).encode(),
]
POISON_EVERY = 50


def memory_mib(pid: int) -> tuple[float, float]:
    """Resident and anonymous (private) memory of a process, MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["RssAnon"].split()[0]) / 1024


def metrics(port: int) -> dict[str, float]:
    """The counters the table shows, summed over their labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    wanted = ("textmon_messages_consumed_total", "textmon_messages_processed_total", "textmon_dead_letters_total",
              "textmon_late_records_total")
    out = dict.fromkeys(wanted, 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in out:
            out[name] += float(line.rsplit(" ", 1)[1])
    return out


async def produce(bootstrap: str, topic: str, rate: float, seconds: float) -> int:
    """Paced traffic with poison mixed in; every good message carries one fixed event time."""
    from aiokafka import AIOKafkaProducer

    texts = sample_texts(5000)
    stamp = time.time()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    await producer.start()
    sent = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            due = int((time.monotonic() - started) * rate)
            while sent < due:
                if sent % POISON_EVERY == POISON_EVERY - 1:
                    value = POISON[(sent // POISON_EVERY) % len(POISON)]
                else:
                    value = json.dumps({"id": f"s{sent}", "text": texts[sent % len(texts)], "timestamp": stamp}).encode()
                await producer.send(topic, value=value, key=str(sent).encode())
                sent += 1
            await asyncio.sleep(0.05)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def use_tiny_models(config: Path, folder: Path) -> None:
    """Point a daemon config at random-weight classifiers built here (tests/support/tiny_models.py)."""
    from tests.support.tiny_models import SENTIMENTS, TOPICS, build_tiny_classifier

    data = yaml.safe_load(config.read_text())
    data["models"] = {"default": {"topic": str(build_tiny_classifier(folder / "topic", TOPICS, seed=1)),
                                  "sentiment": str(build_tiny_classifier(folder / "sentiment", SENTIMENTS, seed=2))},
                      "by_language": {}, "device": "cpu", "precision": "fp32"}
    config.write_text(yaml.safe_dump(data))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    broker = Broker(args.port)
    broker.start()
    workdir = REPO / "bench" / "results"
    workdir.mkdir(parents=True, exist_ok=True)
    topic = f"soak-{int(time.time())}"
    rows: list[dict[str, Any]] = []
    try:
        await broker.create(topic, partitions=3)
        config = daemon_config(workdir / f"{topic}.yaml", broker.bootstrap, topic, args.precision)
        if args.tiny:
            use_tiny_models(config, workdir / f"{topic}-models")
        port = int(yaml.safe_load(config.read_text())["http"]["port"])
        # the config file alone configures the daemon: a MONITOR_* variable in the caller's shell would win over it
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "--config", str(config), "run"],
                                stdout=open(workdir / f"{topic}.log", "wb"), stderr=subprocess.STDOUT, cwd=REPO, env=env)
        try:
            await wait_ready(config, proc)
            producing = asyncio.create_task(produce(broker.bootstrap, topic, args.rate, args.minutes * 60))
            started = time.monotonic()
            print(f"{'minute':>7} {'rss MiB':>8} {'anon MiB':>9} {'consumed':>9} {'enriched':>9} {'dead':>6} {'late':>6}")
            while not (producing.done() and time.monotonic() - started >= args.minutes * 60 + args.sample_seconds):
                await asyncio.sleep(args.sample_seconds)  # the last sample comes after the traffic ends
                if proc.poll() is not None:
                    raise RuntimeError(f"the daemon exited with code {proc.returncode}")
                rss, anon = memory_mib(proc.pid)
                m = metrics(port)
                row = {"minute": round((time.monotonic() - started) / 60, 1), "rss_mib": round(rss, 1),
                       "anon_mib": round(anon, 1), "consumed": int(m["textmon_messages_consumed_total"]),
                       "enriched": int(m["textmon_messages_processed_total"]),
                       "dead_letters": int(m["textmon_dead_letters_total"]), "late": int(m["textmon_late_records_total"])}
                rows.append(row)
                print(f"{row['minute']:>7} {rss:>8.1f} {anon:>9.1f} {row['consumed']:>9} {row['enriched']:>9} "
                      f"{row['dead_letters']:>6} {row['late']:>6}", flush=True)
            sent = producing.result()
        finally:
            proc.terminate()
            proc.wait(120)
    finally:
        broker.stop()
    return {"rate": args.rate, "minutes": args.minutes, "sent": sent, "exit_code": proc.returncode, "samples": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0, help="messages a second")
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--tiny", action="store_true", help="random-weight tiny classifiers instead of the shipped models")
    parser.add_argument("--port", type=int, default=free_port())
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(f"sent {result['sent']}; daemon exit code {result['exit_code']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
