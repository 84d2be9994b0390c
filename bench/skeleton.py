"""The shipped models' shapes without their base encoders' weights, for the forward-only limit on a
host that lacks them (an accelerator host without network access, say).

    python -m bench.skeleton OUT                                   # where the encoders are installed
    python bench/throughput.py --limit-only --skeletons OUT        # on the other host

``OUT`` gets each base encoder's configuration and tokenizer files (about 17 MB in all), no weights.
There the bundles load on random weights of the same shapes, with their own adapters and heads:
the arithmetic, and so the limit, is the shipped models', the predictions are meaningless.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "normalisation.json", "vocab.txt")


def write(out: Path) -> list[Path]:
    """Copy every base encoder's configuration and tokenizer files (never its weights) to ``out/PACKAGE``."""
    from monitor.models.encoder import BASES, resolve_base

    written = []
    for package in BASES:
        source = resolve_base(package).folder
        dest = out / package
        dest.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, dest / name)
                written.append(dest / name)
    return written


@contextlib.contextmanager
def random_encoders(skeletons: Path) -> Iterator[None]:
    """While open, bundles take their base encoders' shapes and tokenizers from ``skeletons`` (as
    ``write`` left them) and start from random weights, seeded, instead of the installed encoders."""
    import torch

    import monitor.models.bundle as bundle
    from monitor.models.base import ModelLoadError
    from monitor.models.bert import Bert, BertConfig
    from monitor.models.encoder import BaseSpec, base_spec

    def resolve(package: str, prefix: str | None = None) -> BaseSpec:
        folder = skeletons / package
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{folder} holds no config.json: write it with python -m bench.skeleton {skeletons}")
        return base_spec(package, folder, prefix)

    def random_bert(folder: Path) -> Any:
        config = BertConfig.read(folder)
        generator = torch.Generator().manual_seed(0)
        tables = {name: torch.randn(rows, config.hidden_size, generator=generator) * 0.02
                  for name, rows in (("word_embeddings", config.vocab_size),
                                     ("position_embeddings", config.max_position_embeddings),
                                     ("token_type_embeddings", config.type_vocab_size))}
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return Bert(config, tables).eval()

    real = bundle.resolve_base, bundle.load_bert
    bundle.resolve_base, bundle.load_bert = resolve, random_bert
    try:
        yield
    finally:
        bundle.resolve_base, bundle.load_bert = real


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = write(Path(sys.argv[1]))
    print(f"{len(files)} files, {sum(f.stat().st_size for f in files) / 2**20:.1f} MiB: "
          + ", ".join(str(f) for f in files))
