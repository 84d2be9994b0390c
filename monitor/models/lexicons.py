"""Finance sentiment lexicons, read from pip-downloaded wheels (never imported, never shipped).

The lexicons only make silver training labels; the daemon never uses them. They are read from the
files inside the wheels because importing the packages has side effects (``finvader`` downloads at
import time; ``cntext`` pulls gensim and old numpy). ``scripts/fetch-lexicons.sh`` unpacks them into
``$MONITOR_CACHE_DIR/lexicons``.

Sources (cite them in model cards):
- SentiBigNomics (Consoli, Barbaglia, Manzan 2022) and Henry (2008), in ``finvader==1.0.4`` (Apache-2.0);
- VADER (Hutto & Gilbert 2014), ``vadersentiment==3.3.2`` (MIT);
- Yao et al. 2021 (formal / informal Chinese financial sentiment) and Jiang et al. 2019 (Chinese financial
  sentiment dictionary), in ``cntext==2.2.1`` (MIT packaging).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from monitor.models.data import DataError

# weight of the finance lexicons against VADER's general one (VADER scores run -4..4, the finance ones -1..1)
FINANCE_WEIGHT = 4.0
EN_FILES = ("finvader/finvader/SentiBignomics.py", "finvader/finvader/Henry.py",
            "vaderSentiment/vaderSentiment/vader_lexicon.txt")
ZH_FILES = ("cntext/cntext/io/data/zh_common_FinacialFormalUnformal.yaml",
            "cntext/cntext/io/data/zh_common_FinanceSenti.yaml")


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Term -> polarity score (positive > 0); ``source`` names the files it came from."""

    scores: dict[str, float]
    source: tuple[str, ...]


def default_dir() -> Path:
    """Where ``scripts/fetch-lexicons.sh`` unpacks the wheels."""
    cache = os.environ.get("MONITOR_CACHE_DIR") or str(Path.home() / ".cache" / "textmon")
    return Path(cache) / "lexicons"


def _need(root: Path, rel: str) -> Path:
    path = root / rel
    if not path.is_file():
        raise DataError(f"lexicon file {path} is missing: run scripts/fetch-lexicons.sh (it unpacks "
                        "finvader, vadersentiment and cntext wheels there)")
    return path


def _dict_from_module(path: Path, function: str) -> dict[str, float]:
    # the file is a plain module of dictionary assignments; loading it alone skips the package __init__
    spec = importlib.util.spec_from_file_location(f"_lexicon_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise DataError(f"cannot read {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {str(k).lower(): float(v) for k, v in getattr(module, function)().items()}


def english(root: Path | None = None) -> Lexicon:
    """VADER's lexicon overlaid with SentiBigNomics and Henry (finance terms weighted x4, Henry wins)."""
    root = root or default_dir()
    paths = [_need(root, rel) for rel in EN_FILES]
    scores: dict[str, float] = {}
    for line in paths[2].read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            try:
                scores[parts[0].lower()] = float(parts[1])
            except ValueError:
                continue
    for word, value in _dict_from_module(paths[0], "lexicon1").items():
        scores[word] = FINANCE_WEIGHT * value
    for word, value in _dict_from_module(paths[1], "lexicon2").items():
        scores[word] = 2.0 * value  # Henry's +-1.5 -> +-3: earnings-release words are strong signals
    return Lexicon(scores, EN_FILES)


def chinese(root: Path | None = None) -> Lexicon:
    """Union of Yao et al. (both registers) and Jiang et al.; terms listed on both sides are dropped."""
    root = root or default_dir()
    pos: set[str] = set()
    neg: set[str] = set()
    for rel in ZH_FILES:
        doc = yaml.safe_load(_need(root, rel).read_text(encoding="utf-8"))
        for category, words in (doc.get("Dictionary") or {}).items():
            target = pos if ("肯定" in category or category == "pos") else neg
            target.update(str(w).strip() for w in words or [] if str(w).strip())
    both = pos & neg
    scores = {w: 1.0 for w in pos - both} | {w: -1.0 for w in neg - both}
    return Lexicon(scores, ZH_FILES)
