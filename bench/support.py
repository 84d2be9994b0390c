"""Pieces shared by the benchmarks: a broker, paced producing, consuming with timestamps,
process statistics from /proc, and the naive peer a typical user would write."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import shutil
import socket
import subprocess
import threading

import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def sample_texts(n: int) -> list[str]:
    """The bundled sample's texts, repeated (with a counter so copies are distinct) to ``n``."""
    from monitor.sources.replay import SAMPLE_STREAM

    with gzip.open(SAMPLE_STREAM, "rt", encoding="utf-8") as handle:
        base = [json.loads(line)["text"] for line in handle if line.strip()]
    return [base[i % len(base)] + ("" if i < len(base) else f" ({i // len(base)})") for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """deploy/local-kafka.sh on a bench port with a throw-away data folder."""

    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        data = REPO / "bench" / "results" / "kafka"
        return dict(os.environ, KAFKA_PORT=str(self.port), KAFKA_DATA=str(data), KAFKA_HEAP="768m",
                    # compiled as a long-running broker is, and without the 0.5 s metadata heartbeat a
                    # single node has no follower for: its CPU share is measured, and it shares the cores
                    KAFKA_JIT="full", KAFKA_METADATA_IDLE_MS="5000")

    def start(self) -> None:
        subprocess.run(["bash", str(REPO / "deploy" / "local-kafka.sh"), "start"], env=self._env(), check=True,
                       capture_output=True, timeout=600)

    @property
    def pid(self) -> int | None:
        """The broker's process id, while it runs."""
        try:
            return int((REPO / "bench" / "results" / "kafka" / "broker.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        subprocess.run(["bash", str(REPO / "deploy" / "local-kafka.sh"), "stop"], env=self._env(), capture_output=True,
                       timeout=120)

    async def create(self, topic: str, partitions: int) -> None:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1), NewTopic(f"{topic}.enriched", partitions, 1)])
        finally:
            await admin.close()
        # a new partition's leader takes a moment to take over; producing before it has meant retries,
        # which the latency run counted against the daemon. Listing offsets answers only once it has.
        from aiokafka import AIOKafkaConsumer, TopicPartition

        probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await probe.start()
        try:
            await probe.end_offsets([TopicPartition(t, p) for t in (topic, f"{topic}.enriched") for p in range(partitions)])
        finally:
            await probe.stop()


async def produce_paced(bootstrap: str, topic: str, texts: list[str], rate: float | None) -> None:
    """JSON messages with ids; ``rate`` messages/second, or as fast as possible."""
    from aiokafka import AIOKafkaProducer

    from monitor.sources.replay import send_paced

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    await producer.start()
    try:
        records = ((str(i).encode(), json.dumps({"id": f"b{i}", "text": text}).encode()) for i, text in enumerate(texts))
        await send_paced(producer, topic, records, rate)
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, topic: str, count: int, timeout: float, parse: bool = True) -> list[dict[str, Any]]:
    """Read ``count`` records; each with its timestamp and (``parse``) its parsed value. Called once the
    daemon has finished (``wait_written``), so reading takes no CPU from what is measured."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(out)} of {count} records on {topic}")
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                out += [{"timestamp_ms": r.timestamp, "value": json.loads(r.value) if parse else None} for r in records]
    finally:
        await consumer.stop()
    return out


async def wait_written(bootstrap: str, topic: str, partitions: int, count: int, timeout: float,
                       stats: list[ProcessStats] | None = None) -> None:
    """Wait until ``topic`` holds ``count`` records, asking only for its end offsets twice a second:
    reading the records while the daemon runs would take CPU from it on the same cores."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
            for s in stats or []:
                s.sample()
            if sum(ends.values()) >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {sum(ends.values())} of {count} records on {topic}")
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


@dataclass
class ProcessStats:
    """Peak RSS and CPU use of a process, read from /proc (and GPU use from nvidia-smi when present)."""

    pid: int
    started: float = field(default_factory=time.monotonic)
    cpu_start: float | None = None
    peak_rss_mib: float = 0.0
    # RSS counts the shared libraries' pages too (torch's CUDA libraries alone are 150-300 MiB of them,
    # more when the page cache holds the whole files); the private, anonymous part is sampled apart
    peak_rss_anon_mib: float = 0.0
    cpu_percent: float = 0.0
    gpu_util: float | None = None
    _gpu_samples: list[float] = field(default_factory=list)
    _threads_start: dict[str, float] | None = None
    threads_percent: dict[str, float] = field(default_factory=dict)  # CPU % per thread name, e.g. textmon-infer
    threads_seconds: dict[str, float] = field(default_factory=dict)  # CPU seconds per thread name since the first sample
    # per thread name, the average thread's wall time split three ways (%, from the kernel's schedstat):
    # running, runnable but waiting for a core, and off the CPU (waiting for work, I/O or a lock)
    threads_sched: dict[str, dict[str, float]] = field(default_factory=dict)
    _sched_start: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # tid -> (first seen, ran, waited)

    def _thread_seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        ticks = os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                head, _, rest = (task / "stat").read_text().rpartition(")")
            except OSError:
                continue
            fields = rest.split()
            name = head.split("(", 1)[1]
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
        return out

    def _sched(self) -> dict[str, tuple[str, float, float]]:
        """Thread id -> (name, seconds on a core, seconds runnable but waiting for one)."""
        out: dict[str, tuple[str, float, float]] = {}
        try:
            tasks = list(Path(f"/proc/{self.pid}/task").iterdir())
        except OSError:
            return out
        for task in tasks:
            try:
                # the main thread runs the daemon's event loop; other unnamed threads are "python" too
                name = "event loop" if task.name == str(self.pid) else (task / "comm").read_text().strip()
                ran, waited = (task / "schedstat").read_text().split()[:2]
            except (OSError, ValueError):
                continue  # a thread that has just ended, or a kernel without scheduler statistics
            out[task.name] = (name, int(ran) / 1e9, int(waited) / 1e9)
        return out

    def _sched_split(self, now: dict[str, tuple[str, float, float]]) -> dict[str, dict[str, float]]:
        """Per thread name, the average thread's split of the time since it was first seen (worker pools
        start threads on demand, so some are first seen after the first sample)."""
        clock = time.monotonic()
        sums: dict[str, list[float]] = {}
        for tid, (name, ran, waited) in now.items():
            seen, ran0, waited0 = self._sched_start.setdefault(tid, (clock, ran, waited))
            if clock - seen < 0.5:
                continue  # too new to say anything
            acc = sums.setdefault(name, [0, 0.0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += ran - ran0
            acc[2] += waited - waited0
            acc[3] += clock - seen
        split = {}
        for name, (n, ran, waited, wall) in sums.items():
            running, queued = 100 * ran / wall, 100 * waited / wall
            split[name] = {"threads": n, "running": running, "waiting_for_core": queued,
                           "off_cpu": max(0.0, 100 - running - queued)}
        return split

    def _cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def sample(self) -> None:
        try:
            cpu = self._cpu_seconds()
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_mib = max(self.peak_rss_mib, int(line.split()[1]) / 1024)
                elif line.startswith("RssAnon:"):
                    self.peak_rss_anon_mib = max(self.peak_rss_anon_mib, int(line.split()[1]) / 1024)
        except (FileNotFoundError, ProcessLookupError):
            return
        threads, sched = self._thread_seconds(), self._sched()
        if self.cpu_start is None:
            self.cpu_start, self.started, self._threads_start = cpu, time.monotonic(), threads
        self.threads_sched = self._sched_split(sched)
        elapsed = time.monotonic() - self.started
        if elapsed > 0.5:
            self.cpu_percent = 100 * (cpu - self.cpu_start) / elapsed
            start = self._threads_start or {}
            self.threads_seconds = {name: t - start.get(name, 0.0) for name, t in threads.items()}
            self.threads_percent = {name: 100 * t / elapsed for name, t in self.threads_seconds.items()}
        util = gpu_utilisation()
        if util is not None:
            self._gpu_samples.append(util)
            self.gpu_util = sum(self._gpu_samples) / len(self._gpu_samples)


def gpu_utilisation() -> float | None:
    """Current GPU utilisation in percent, or None without nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout
        return float(out.split()[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


class GpuSampler:
    """While open, GPU utilisation twice a second from a background thread; ``mean`` is None without
    nvidia-smi (a CPU machine) or before any sample."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            util = gpu_utilisation()
            if util is not None:
                self.samples.append(util)
            if self._stop.wait(self.interval):
                return

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def daemon_config(path: Path, bootstrap: str, topic: str, precision: str) -> Path:
    """A settings file for one benchmark run of the daemon."""
    import yaml

    port = free_port()
    data = {
        "kafka": {"bootstrap_servers": bootstrap, "input_topics": [topic], "output_topic": f"{topic}.enriched",
                  "dead_letter_topic": f"{topic}.dlq", "group_id": f"{topic}-group"},
        "models": {"precision": precision},
        "http": {"host": "127.0.0.1", "port": port},
        "log": {"level": "warning", "format": "json"},
        "state": {"dir": str(path.parent / f"{topic}-state")},
    }
    path.write_text(yaml.safe_dump(data))
    return path


async def wait_ready(config: Path, proc: subprocess.Popen[bytes] | None = None, timeout: float = 300) -> None:
    """Poll the daemon until /readyz answers 200 and the group has assigned it partitions; fail at once
    if its process (``proc``) exits first."""
    import yaml

    port = yaml.safe_load(config.read_text())["http"]["port"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with code {proc.returncode} before it was ready; see its log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                ready = resp.status == 200
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                assigned = any(line.startswith("textmon_partition_assignments_total ") and float(line.split()[1]) > 0
                               for line in resp.read().decode().splitlines())
            if ready and assigned:
                return
        except OSError:
            pass
        await asyncio.sleep(0.5)
    raise TimeoutError("daemon not ready")


def scrape_gauge(config: Path, name: str) -> float | None:
    """One unlabelled sample from the daemon's /metrics, or None when it is not there."""
    import yaml

    port = yaml.safe_load(config.read_text())["http"]["port"]
    with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    return None


def export_hf_classifier(folder: Path, task: str) -> Path:
    """The default route's encoder (same weights) as a BertForSequenceClassification with the head of ``task``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from monitor.models.classifier import Classifier
    from monitor.settings import ModelSettings

    if (folder / "config.json").is_file():
        return folder
    classifier = Classifier.load(ModelSettings(precision="fp32", by_language={}, trace=False))  # eager: keeps its modules
    backend = classifier.routes["default"].backends[0]
    stack = backend.stack  # type: ignore[attr-defined]
    labels = backend.info.tasks[task]
    config = BertConfig.from_pretrained(str(backend.text.spec.folder))  # type: ignore[attr-defined]
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    model = BertForSequenceClassification(config)
    loaded = model.bert.load_state_dict(stack.bert.state_dict(), strict=False)  # the same names; no pooler
    assert not loaded.unexpected_keys and all(k.startswith("pooler.") for k in loaded.missing_keys), loaded
    with torch.no_grad():
        model.classifier.weight.copy_(stack.heads[task].weight)
        model.classifier.bias.copy_(stack.heads[task].bias)
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(backend.text.spec.folder)).save_pretrained(str(folder))  # type: ignore[attr-defined]
    return folder


async def naive_peer(broker: Broker, texts: list[str], batched: bool) -> dict[str, Any]:
    """What a user would write for the daemon's two labels: consume, call a transformers pipeline per task
    (a pipeline has one head), produce the result. Generous to the peer: every message goes through the
    default route's 6-layer encoder, where the daemon sends Chinese to the 12-layer multilingual one."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from transformers import pipeline

    pipes = {}
    for task in ("topic", "sentiment"):
        folder = str(export_hf_classifier(REPO / "bench" / "results" / "work" / f"hf-export-{task}", task))
        pipes[task] = pipeline("text-classification", model=folder, tokenizer=folder, device=0 if _cuda() else -1,
                               top_k=None)
    topic = f"bench-naive-{int(batched)}-{int(time.time())}"
    await broker.create(topic, partitions=3)
    await produce_paced(broker.bootstrap, topic, texts, rate=None)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=f"{topic}-g",
                                auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await consumer.start()
    await producer.start()
    done = 0
    started = None
    stats = ProcessStats(os.getpid())
    try:
        while done < len(texts):
            batch = await consumer.getmany(timeout_ms=200, max_records=256 if batched else 1)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            started = started or time.monotonic()
            values = [json.loads(r.value) for r in records]
            texts_now = [v["text"] for v in values]
            if batched:
                results = {task: pipe(texts_now, batch_size=32, truncation=True, max_length=128)
                           for task, pipe in pipes.items()}
            else:
                results = {task: [pipe(t, truncation=True, max_length=128) for t in texts_now]
                           for task, pipe in pipes.items()}
            for i, v in enumerate(values):
                out = {"id": v["id"], **{task: res[i] for task, res in results.items()}}
                await producer.send(f"{topic}.enriched", json.dumps(out).encode())
            done += len(records)
            stats.sample()
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()
    assert started is not None
    return {"messages_per_s": len(texts) / (time.monotonic() - started), "peak_rss_mib": stats.peak_rss_mib,
            "cpu_percent": stats.cpu_percent}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()



