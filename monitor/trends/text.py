"""Text features for trends: normalisation, terms (English words, Chinese character bigrams), SimHash."""

from __future__ import annotations

import re
import unicodedata

from monitor.trends.shingles import fingerprints
from monitor.trends.stopwords import CHINESE, ENGLISH

__all__ = ["fingerprints", "hamming", "normalise", "normalised_terms", "simhash", "terms"]

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"[@#]\w+")
# a syndicated headline's trailing attribution: " - Reuters", " | Bloomberg News", " — 新华社"
_ATTRIBUTION = re.compile(r"\s+[-|–—]\s+[\w.&' ]{2,40}$")
# the same for Chinese wires, without spaces: "……（新华社）", "【财经网】……", "……——财经网"
_ZH_ATTRIBUTION = re.compile(r"^[(\[【][^()\[\]【】]{1,12}[)\]】]\s*|\s*[(\[【][^()\[\]【】]{1,12}[)\]】]$|\s*(?:——|--)\s*[\w.]{1,12}$")
_WORD = re.compile(r"[a-z][a-z'\-]{2,}")
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
STOPWORDS = ENGLISH
ZH_STOP = frozenset("的了是在和有就不也都而及与着或一个我们你们他们这个那个没有可以因为所以但是如果已经".replace("", " ").split())


def normalise(text: str) -> str:
    """NFKC, lower case, URLs, @mentions and a trailing source attribution removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = " ".join(_MENTION.sub(" ", _URL.sub(" ", text)).split())
    text = _ATTRIBUTION.sub("", text) if len(text) > 40 else text
    if _HAN_RUN.search(text):
        stripped = _ZH_ATTRIBUTION.sub("", text)
        text = stripped if len(stripped) >= 8 else text
    return text


def terms(text: str) -> list[str]:
    """Content terms: English words of 3+ letters minus stop words, and bigrams of Chinese character runs."""
    return normalised_terms(normalise(text))


def normalised_terms(norm: str) -> list[str]:
    """``terms`` of a text already passed through ``normalise``."""
    out = [w for w in _WORD.findall(norm) if w not in STOPWORDS]
    for run in _HAN_RUN.findall(norm):
        out.extend(_han_pairs(run))
    return out


def _han_pairs(run: str) -> list[str]:
    """Character pairs of a Han run, less those that touch a function word: a stop pair (我们, 已经)
    or a stop character (的, 了) takes its characters out, so no pair straddles it (题已, 经解)."""
    if len(run) <= 2:
        return [run] if len(run) == 2 and run not in CHINESE else []
    out_of_play = [c in ZH_STOP for c in run]
    for i in range(len(run) - 1):
        if run[i : i + 2] in CHINESE:
            out_of_play[i] = out_of_play[i + 1] = True
    return [run[i : i + 2] for i in range(len(run) - 1) if not (out_of_play[i] or out_of_play[i + 1])]


def simhash(text: str) -> int:
    """64-bit SimHash over the normalised text's words, numbers, neighbouring pairs of those, and
    Chinese character pairs and triples (``monitor.trends.shingles``)."""
    return fingerprints([normalise(text)])[0]


def hamming(a: int, b: int) -> int:
    """Differing bits."""
    return (a ^ b).bit_count()
