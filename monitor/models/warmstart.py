"""Start a training run from a bundle's weights (``monitor train --init bundled:en-news``).

The bundle's fp16 deltas are added to the pip-installed base, as the loader does, and each head whose
task and labels the run shares is copied; other heads start fresh. The new bundle still stores deltas
against the pip-installed base, so it carries the init bundle's changes to layers this run keeps frozen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from monitor.models.base import ModelLoadError
from monitor.models.data import DataError

LAYER = re.compile(r"encoder\.layer\.(\d+)\.")  # an encoder weight's layer number


@dataclass(slots=True)
class Init:
    """A bundle's manifest, its deltas and heads, ready to be put onto a freshly loaded base."""

    ref: str
    path: Path
    manifest: dict[str, Any]
    deltas: dict[str, torch.Tensor]
    heads: dict[str, torch.Tensor]

    @property
    def base(self) -> str:
        """The base encoder package the bundle was trained on."""
        return str(self.manifest["base"]["package"])

    def first_layer(self, n_layers: int) -> int:
        """The lowest layer the bundle's deltas change (``n_layers`` when none)."""
        return min((int(m.group(1)) for n in self.deltas if (m := LAYER.match(n))), default=n_layers)

    def describe(self) -> dict[str, str]:
        """Name, version and where it was read, for the manifest and the card."""
        return {"ref": self.ref, "name": str(self.manifest["name"]), "version": str(self.manifest["version"])}


def read_init(ref: str) -> Init:
    """Read ``bundled:NAME`` or a bundle folder; raises ``DataError`` naming what is wrong."""
    from safetensors.torch import load_file

    from monitor.models.bundle import read_manifest
    from monitor.models.loader import resolve_path

    try:
        path = resolve_path(ref)
        manifest = read_manifest(path)
    except ModelLoadError as exc:
        raise DataError(f"--init {ref}: {exc}") from None
    deltas = load_file(str(path / manifest["adapter"])) if manifest.get("adapter") else {}
    heads: dict[str, torch.Tensor] = {}
    for spec in {v["weights"] for v in manifest["tasks"].values()}:
        heads.update(load_file(str(path / spec)))
    return Init(ref, path, manifest, deltas, heads)


def apply_init(init: Init, bert: torch.nn.Module, heads: torch.nn.ModuleDict, labels: dict[str, tuple[str, ...]]
               ) -> list[str]:
    """Add the deltas to ``bert`` and copy matching heads; returns notes for the card."""
    params = dict(bert.named_parameters())
    notes = []
    with torch.no_grad():
        for name, delta in init.deltas.items():
            if name not in params or params[name].shape != delta.shape:
                raise DataError(f"--init {init.ref}: its adapter does not fit this base ({name}); wrong base?")
            params[name].add_(delta.float())
        for task, head in heads.items():
            known = init.manifest["tasks"].get(task)
            if known is None:
                notes.append(f"{task} head starts fresh ({init.ref} has no {task} task)")
            elif not set(known["labels"]) <= set(labels[task]):
                notes.append(f"{task} head starts fresh (labels {labels[task]} differ from {init.ref}'s "
                             f"{tuple(known['labels'])})")
            else:
                # every label the head knew keeps its row; one added (a topic head gaining ``other``)
                # starts fresh, so what the head knew (Chinese titles it learnt to file, say) is kept
                old = list(known["labels"])
                for i, lab in enumerate(labels[task]):
                    if lab in old:
                        head.weight[i] = init.heads[f"{task}.weight"][old.index(lab)]
                        head.bias[i] = init.heads[f"{task}.bias"][old.index(lab)]
                added = [lab for lab in labels[task] if lab not in old]
                notes.append(f"{task} head from {init.ref}" +
                             (f" for its labels {tuple(old)}; {added} start fresh" if added else ""))
    dropped = sorted(set(init.manifest["tasks"]) - set(heads))
    if dropped:
        notes.append(f"{init.ref}'s {', '.join(dropped)} head(s) not carried over (no --task for them)")
    return notes
