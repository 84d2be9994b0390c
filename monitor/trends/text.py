"""Text features for trends: normalisation, terms (English words, Chinese character bigrams), SimHash."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from typing import Sequence

import numpy as np

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"[@#]\w+")
# a syndicated headline's trailing attribution: " - Reuters", " | Bloomberg News", " — 新华社"
_ATTRIBUTION = re.compile(r"\s+[-|–—]\s+[\w.&' ]{2,40}$")
_WORD = re.compile(r"[a-z][a-z'\-]{2,}")
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
STOPWORDS = frozenset(
    """the and for that with this from have has had was were are but not you your they their them his her its our
    out about into over after than then there what when which who will would could should can just more most also
    been being some such only other very said says say like get got one two new all any may amp http https www com
    today week year years time dont cant wont im ive""".split()
)
ZH_STOP = frozenset("的了是在和有就不也都而及与着或一个我们你们他们这个那个没有可以因为所以但是如果已经".replace("", " ").split())


def normalise(text: str) -> str:
    """NFKC, lower case, URLs, @mentions and a trailing source attribution removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = " ".join(_MENTION.sub(" ", _URL.sub(" ", text)).split())
    return _ATTRIBUTION.sub("", text) if len(text) > 40 else text


def terms(text: str) -> list[str]:
    """Content terms: English words of 3+ letters minus stop words, and bigrams of Chinese character runs."""
    return normalised_terms(normalise(text))


def normalised_terms(norm: str) -> list[str]:
    """``terms`` of a text already passed through ``normalise``."""
    out = [w for w in _WORD.findall(norm) if w not in STOPWORDS]
    for run in _HAN_RUN.findall(norm):
        chars = [c for c in run if c not in ZH_STOP] if len(run) > 2 else list(run)
        out.extend(a + b for a, b in zip(chars, chars[1:]))
    return out


def _shingles(norm: str) -> list[str]:
    # words and word pairs; Chinese character pairs and triples: enough features that one added or
    # changed word moves few of the 64 bits
    words = _WORD.findall(norm) + re.findall(r"\d+", norm)
    grams = words + [" ".join(words[i : i + 2]) for i in range(len(words) - 1)]
    for run in _HAN_RUN.findall(norm):
        grams.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
        grams.extend(run[i : i + 3] for i in range(len(run) - 2))
    return grams or [norm]


def simhash(text: str) -> int:
    """64-bit SimHash over words, word pairs and Chinese character pairs and triples of the normalised text."""
    return fingerprints([normalise(text)])[0]


def fingerprints(norms: Sequence[str]) -> list[int]:
    """``simhash`` of many already-normalised texts at once: one array pass for a whole batch."""
    if not norms:
        return []
    grams = [_shingles(norm) for norm in norms]
    counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))  # every text has a shingle
    digests = b"".join([_digest(g) for shingles in grams for g in shingles])
    # one row of 64 bits per shingle; a text's bit is set where most of its shingles set it
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8)).reshape(-1, 64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    majority = np.add.reduceat(bits, starts, axis=0, dtype=np.int64) * 2 > counts[:, None]
    return [int.from_bytes(row.tobytes(), "big") for row in np.packbits(majority, axis=1)]


@functools.lru_cache(maxsize=1 << 16)
def _digest(gram: str) -> bytes:
    # shingles repeat across a stream (common words, names): a cache hit is several times cheaper
    return hashlib.blake2b(gram.encode(), digest_size=8).digest()


def hamming(a: int, b: int) -> int:
    """Differing bits."""
    return (a ^ b).bit_count()
