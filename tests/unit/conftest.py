"""Make the benchmark scripts importable where a test checks the benchmark's own configuration."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_detection", Path(__file__).resolve().parents[2] / "bench" / "detection.py")
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules["bench_detection"] = _module
_spec.loader.exec_module(_module)
