"""Resolve a model reference to a loaded backend: bundled name, bundle folder, or HF folder."""

from __future__ import annotations

from pathlib import Path

import torch

from monitor.models.base import Backend, ModelLoadError, Precision

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled" / "models"
BUNDLE_MANIFEST = "monitor-model.json"


def resolve_path(ref: str) -> Path:
    """``bundled:NAME`` -> the shipped folder; anything else is a filesystem path."""
    if ref.startswith("bundled:"):
        name = ref.split(":", 1)[1]
        path = BUNDLED_DIR / name
        if not path.is_dir():
            shipped = sorted(p.name for p in BUNDLED_DIR.iterdir()) if BUNDLED_DIR.is_dir() else []
            raise ModelLoadError(f"no bundled model named {name!r}; shipped: {shipped}")
        return path
    path = Path(ref).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"model folder {path} does not exist")
    return path


def load_backend(ref: str, *, task: str | None, device: torch.device, precision: Precision, trace: bool = True
                 ) -> Backend:
    """Load a bundle (all its tasks; ``trace``: as a TorchScript graph) or a plain HF folder (as ``task``)."""
    path = resolve_path(ref)
    if (path / BUNDLE_MANIFEST).is_file():
        from monitor.models.bundle import load_bundle

        return load_bundle(path, device, precision, trace)
    if task is None:
        raise ModelLoadError(f"{path} is a single-task Hugging Face folder: name it as models.*.topic or .sentiment")
    from monitor.models.hf import HFBackend

    return HFBackend(path, task, device, precision)
