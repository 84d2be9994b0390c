"""SimHash fingerprints of many normalised texts in a few array passes, with no Python work per shingle.

A text's shingles are its tokens in order, English words (``[a-z][a-z'-]{2,}``) and numbers
(``\\d+``), each pair of neighbouring tokens, and its Chinese character pairs and triples (a
one-character run counts alone); a text with none of these is its own single shingle. Each shingle
is hashed to 64 bits: a polynomial over its code points' mixed values, then mixed again with its
length (a pair mixes its two tokens' hashes). Bit ``k`` of the fingerprint is set where more than
half of the text's shingles set bit ``k``. ``tests/unit/test_text.py`` checks this against a
one-shingle-at-a-time reading of the same definition.

The texts of a batch are laid end to end as one array of code points; words, numbers and character
runs are found by comparing each code point's class with its neighbours', and every shingle's hash is
a difference of two prefix sums, each code point weighed by its place within its own text. Texts are
taken in slices of at most ``SLICE`` code points and the powers kept never exceed the longest text,
so memory stays bounded whatever a chunk holds. The pure-Python version this replaced (a regex pass and a cached
``blake2b`` per shingle) cost 26 µs a message on the bundled sample stream.
"""

from __future__ import annotations

import re
import sys
from typing import Sequence

import numpy as np

OTHER, LETTER, JOINER, DIGIT, HAN = 0, 1, 2, 3, 4
MASK = (1 << 64) - 1
PRIME = 0x100000001B3  # the polynomial's base (odd, so it has an inverse modulo 2**64)
PRIME_INV = pow(PRIME, -1, 1 << 64)
SEED = 0x9E3779B97F4A7C15
SLICE = 1 << 18  # code points handled in one set of array passes (about 20 MiB of arrays at most)


def _classes() -> np.ndarray:
    """Each code point's class, as the tokens' patterns see it."""
    table = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    table[ord("a") : ord("z") + 1] = LETTER
    table[[ord("'"), ord("-")]] = JOINER
    # \d is Unicode's decimal digits, as re reads them: ask re, over every code point at once
    every = np.arange(sys.maxunicode + 1, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    table[[m.start() for m in re.finditer(r"\d", every)]] = DIGIT
    table[0x3400:0xA000] = HAN
    table[0xF900:0xFB00] = HAN
    return table


_CLASS = _classes()
_U = np.uint64


def mix(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, element-wise."""
    x = x ^ (x >> _U(33))
    x = x * _U(0xFF51AFD7ED558CCD)
    x = x ^ (x >> _U(33))
    x = x * _U(0xC4CEB9FE1A85EC53)
    return x ^ (x >> _U(33))


class _Powers:
    """PRIME ** i and its inverse's, for i below a length that grows as batches need."""

    def __init__(self) -> None:
        self.up = self.down = np.ones(1, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        up, down = self.up, self.down  # one read each: another thread may be growing them
        if len(up) < n:
            size = max(n, 2 * len(up), 4096)
            up, down = np.ones(size, dtype=np.uint64), np.ones(size, dtype=np.uint64)
            up[1:] = np.cumprod(np.full(size - 1, PRIME, dtype=np.uint64))  # wraps modulo 2**64
            down[1:] = np.cumprod(np.full(size - 1, PRIME_INV, dtype=np.uint64))
            self.up, self.down = up, down
        return up, down


_POWERS = _Powers()


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True."""
    edges = np.diff(mask.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def fingerprints(norms: Sequence[str]) -> list[int]:
    """The 64-bit SimHash of each already-normalised text (see the module's docstring)."""
    out: list[int] = []
    start = 0
    while start < len(norms):  # slices of at most SLICE code points (a longer text alone): memory stays bounded
        stop, size = start + 1, len(norms[start])
        while stop < len(norms) and size + len(norms[stop]) <= SLICE:
            size += len(norms[stop])
            stop += 1
        out += _fingerprints(norms[start:stop])
        start = stop
    return out


def _fingerprints(norms: Sequence[str]) -> list[int]:
    n = len(norms)
    lengths = np.fromiter(map(len, norms), dtype=np.int64, count=n)
    # one code point of class OTHER between texts: no run crosses from one text into the next
    points = np.frombuffer("\0".join(norms).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    text_start = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
    cls = _CLASS[points]
    # each code point weighed by PRIME to the power of its place in its own text, so the powers
    # needed never exceed the longest text
    up, down = _POWERS.get(int(lengths.max()) + 1)
    place = np.arange(len(points) + 1) - np.repeat(text_start, lengths + 1)  # one past the end too
    prefix = np.zeros(len(points) + 1, dtype=np.uint64)
    np.cumsum(mix(points.astype(np.uint64) + _U(SEED)) * up[place[:-1]], out=prefix[1:])

    def hashed(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        poly = (prefix[ends] - prefix[starts]) * down[place[starts]]
        return mix(poly + (ends - starts).astype(np.uint64) * _U(SEED))

    # words: a run of letters and joiners, from its first letter on, if 3 or more long
    run_starts, run_ends = _runs((cls == LETTER) | (cls == JOINER))
    letters = np.flatnonzero(cls == LETTER)
    run_of = np.searchsorted(run_starts, letters, side="right") - 1
    first = np.concatenate(([True], run_of[1:] != run_of[:-1])) if len(letters) else np.zeros(0, dtype=bool)
    word_starts, word_ends = letters[first], run_ends[run_of[first]]
    long_enough = word_ends - word_starts >= 3
    number_starts, number_ends = _runs(cls == DIGIT)
    token_starts = np.concatenate((word_starts[long_enough], number_starts))
    token_ends = np.concatenate((word_ends[long_enough], number_ends))
    order = np.argsort(token_starts, kind="stable")
    token_starts, token_ends = token_starts[order], token_ends[order]
    tokens = hashed(token_starts, token_ends)
    token_text = np.searchsorted(text_start, token_starts, side="right") - 1
    neighbours = np.flatnonzero(token_text[1:] == token_text[:-1])
    pairs = mix(tokens[neighbours] * _U(PRIME) + tokens[neighbours + 1] + _U(1))
    # Chinese: pairs and triples of a run's characters, or a one-character run alone
    han = cls == HAN
    han_next = np.concatenate((han[1:], [False]))
    two = np.flatnonzero(han & han_next)
    three = two[han_next[two + 1]]
    han_starts, han_ends = _runs(han)
    single = han_starts[han_ends - han_starts == 1]
    gram_starts = np.concatenate((two, three, single))
    grams = hashed(gram_starts, np.concatenate((two + 2, three + 3, single + 1)))
    gram_text = np.searchsorted(text_start, gram_starts, side="right") - 1
    hashes = np.concatenate((tokens, pairs, grams))
    owners = np.concatenate((token_text, token_text[neighbours], gram_text))
    counts = np.bincount(owners, minlength=n)
    bare = np.flatnonzero(counts == 0)
    if len(bare):  # no token and no Chinese character: the whole text is its one shingle
        hashes = np.concatenate((hashes, hashed(text_start[bare], text_start[bare] + lengths[bare])))
        owners = np.concatenate((owners, bare))
        counts[bare] = 1
    order = np.argsort(owners, kind="stable")
    bits = np.unpackbits(hashes[order].astype(">u8").view(np.uint8)).reshape(-1, 64)  # bit 63 first
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    if counts.max() < 1 << 16:
        # four 16-bit counters to a 64-bit add (no count reaches a neighbour's lane): 4x fewer adds
        sums = np.add.reduceat(bits.astype(np.uint16).view(np.uint64), starts, axis=0).view(np.uint16)
    else:  # a text of more than 65,535 shingles (over 30,000 characters)
        sums = np.add.reduceat(bits, starts, axis=0, dtype=np.int64)
    majority = sums > (counts // 2)[:, None]  # more than half: 2 * sum > count
    return [int.from_bytes(row.tobytes(), "big") for row in np.packbits(majority, axis=1)]
